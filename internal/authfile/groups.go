package authfile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Group is one line of an AuthGroupFile (/etc/group format):
//
//	name:password:gid:member,member,...
type Group struct {
	Name    string
	Gid     uint32
	Members []string
}

// Groups is a loaded AuthGroupFile.
type Groups struct {
	Path   string
	groups []Group
	byGid  map[uint32]string
}

// maxSupplementary bounds the groups of one user: the kernel's
// NGROUPS_MAX is 65536, but a session needs few, and every one is carried
// to the user's broker.
const maxSupplementary = 64

// LoadGroups reads an AuthGroupFile. Malformed lines are returned as
// warnings and skipped.
func LoadGroups(path string) (*Groups, []string, error) {
	g := &Groups{Path: path, byGid: make(map[uint32]string)}
	warnings, err := readRecords("AuthGroupFile", path, 4, func(fields []string) string {
		gid, err := strconv.ParseUint(fields[2], 10, 32)
		if err != nil || fields[0] == "" {
			return fmt.Sprintf("bad group name %q or gid %q", fields[0], fields[2])
		}
		grp := Group{Name: fields[0], Gid: uint32(gid)}
		for _, m := range strings.Split(fields[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				grp.Members = append(grp.Members, m)
			}
		}
		g.groups = append(g.groups, grp)
		if _, ok := g.byGid[grp.Gid]; !ok {
			g.byGid[grp.Gid] = grp.Name
		}
		return ""
	})
	if err != nil {
		return nil, nil, err
	}
	return g, warnings, nil
}

// Name returns the name of gid, or "".
func (g *Groups) Name(gid uint32) string {
	if g == nil {
		return ""
	}
	return g.byGid[gid]
}

// Names returns the group names by gid, for listings.
func (g *Groups) Names() map[uint32]string {
	if g == nil {
		return nil
	}
	m := make(map[uint32]string, len(g.byGid))
	for k, v := range g.byGid {
		m[k] = v
	}
	return m
}

// Of returns the gids of the groups that list user as a member, besides
// primary, in file order and without duplicates, at most 64.
func (g *Groups) Of(user string, primary uint32) []uint32 {
	if g == nil {
		return nil
	}
	var out []uint32
	for _, grp := range g.groups {
		if grp.Gid != primary && slices.Contains(grp.Members, user) && !slices.Contains(out, grp.Gid) {
			out = append(out, grp.Gid)
			if len(out) == maxSupplementary {
				break
			}
		}
	}
	return out
}
