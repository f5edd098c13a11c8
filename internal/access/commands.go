package access

import (
	"fmt"
	"strings"
)

// Command groups of <Limit>.
const (
	GroupRead  = "READ"
	GroupWrite = "WRITE"
	GroupDirs  = "DIRS"
	GroupAll   = "ALL"
	GroupLogin = "LOGIN"
)

// cmdInfo is how ProFTPD 1.3.8 checks <Limit> for one command: the group
// its handler belongs to ("" for none) and whether the ALL group applies.
type cmdInfo struct {
	group string
	all   bool
}

// commands are the commands whose handlers in ProFTPD 1.3.8 (mod_core,
// mod_xfer, mod_ls, mod_facts, mod_site, mod_lang, mod_tls) consult
// <Limit>, with their group. EPRT, EPSV, PASV, PORT, PROT and OPTS are
// left out of ALL by ProFTPD (dir_check_full); SITE HELP is checked under
// its own name only.
var commands = map[string]cmdInfo{
	// DIRS
	"CWD": {GroupDirs, true}, "XCWD": {GroupDirs, true}, "CDUP": {GroupDirs, true}, "XCUP": {GroupDirs, true},
	"PWD": {GroupDirs, true}, "XPWD": {GroupDirs, true},
	"LIST": {GroupDirs, true}, "NLST": {GroupDirs, true}, "STAT": {GroupDirs, true},
	"MLSD": {GroupDirs, true}, "MLST": {GroupDirs, true}, "MDTM": {GroupDirs, true},
	// READ
	"RETR": {GroupRead, true}, "SIZE": {GroupRead, true},
	// WRITE
	"STOR": {GroupWrite, true}, "STOU": {GroupWrite, true}, "APPE": {GroupWrite, true},
	"DELE": {GroupWrite, true}, "MKD": {GroupWrite, true}, "XMKD": {GroupWrite, true},
	"RMD": {GroupWrite, true}, "XRMD": {GroupWrite, true}, "RNFR": {GroupWrite, true},
	"RNTO": {GroupWrite, true}, "MFMT": {GroupWrite, true}, "MFF": {GroupWrite, true},
	"SITE_CHMOD": {GroupWrite, true}, "SITE_CHGRP": {GroupWrite, true},
	// no group
	"NOOP": {"", true}, "FEAT": {"", true}, "HELP": {"", true}, "HOST": {"", true},
	"RANG": {"", true}, "LANG": {"", true}, "CCC": {"", true}, "SSCN": {"", true},
	"PASV": {"", false}, "EPSV": {"", false}, "PORT": {"", false}, "EPRT": {"", false},
	"PROT": {"", false}, "SITE_HELP": {"", false},
}

// unchecked are FTP commands that ProFTPD 1.3.8 runs without consulting
// <Limit>: a <Limit> naming them has no effect there, so ftpdtls refuses it.
var unchecked = map[string]bool{
	"USER": true, "PASS": true, "ACCT": true, "SYST": true, "TYPE": true, "STRU": true,
	"MODE": true, "ALLO": true, "SMNT": true, "ABOR": true, "REST": true, "QUIT": true,
	"REIN": true, "CLNT": true, "CSID": true, "AUTH": true, "PBSZ": true, "ADAT": true,
	"CONF": true, "ENC": true, "MIC": true, "SITE": true, "OPTS": true,
}

// counterparts are added to a <Limit> that names only one of a pair, as
// ProFTPD's add_limit does.
var counterparts = [][2]string{{"CDUP", "XCUP"}, {"MKD", "XMKD"}, {"PWD", "XPWD"}, {"RMD", "XRMD"}}

// limitCommands reads the command list of a <Limit> line: words split at
// commas, then the missing halves of CDUP/XCUP, MKD/XMKD, PWD/XPWD and
// RMD/XRMD. Names are compared without regard to case, as ProFTPD does.
func limitCommands(args []string, inDir bool) ([]string, error) {
	var list []string
	for _, a := range args {
		for _, e := range strings.Split(a, ",") {
			if e != "" {
				list = append(list, strings.ToUpper(e))
			}
		}
	}
	for _, name := range list {
		switch {
		case name == GroupRead || name == GroupWrite || name == GroupDirs || name == GroupAll:
		case name == GroupLogin:
			if inDir {
				return nil, fmt.Errorf("%w (LOGIN in a <Limit> inside <Directory>, which ProFTPD 1.3.8 never consults)", ErrNotSupported)
			}
		case unchecked[name]:
			return nil, fmt.Errorf("%w (<Limit %s>: ProFTPD 1.3.8 never consults <Limit> for %s)", ErrNotSupported, name, name)
		case strings.HasPrefix(name, "OPTS_"):
			return nil, fmt.Errorf("%w (<Limit %s>)", ErrNotSupported, name)
		default:
			if _, ok := commands[name]; !ok {
				return nil, fmt.Errorf("%w (<Limit %s>: unknown command)", ErrNotSupported, name)
			}
		}
	}
	has := func(n string) bool {
		for _, c := range list {
			if c == n {
				return true
			}
		}
		return false
	}
	for _, p := range counterparts {
		a, b := has(p[0]), has(p[1])
		if a && !b {
			list = append(list, p[1])
		}
		if b && !a {
			list = append(list, p[0])
		}
	}
	return list, nil
}

// Group returns the <Limit> group of an FTP command ("READ", "WRITE",
// "DIRS", or "" for none) and whether ProFTPD consults <Limit> for it at
// all. SITE subcommands are named "SITE_CHMOD", "SITE_CHGRP",
// "SITE_HELP", as in <Limit>.
func Group(cmd string) (group string, checked bool) {
	info, ok := commands[strings.ToUpper(cmd)]
	return info.group, ok
}
