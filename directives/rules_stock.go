package directives

import (
	"errors"
	"fmt"
	"strings"
)

// The directives of the modules Debian's stock /etc/proftpd/modules.conf
// loads, as those modules check them (part 1: mod_ctrls_admin, mod_load,
// mod_dynmasq, mod_site_misc, mod_facl, mod_unique_id, mod_copy,
// mod_deflate, mod_readme, mod_quotatab and mod_radius).

func init() {
	adminActs := []string{"config", "debug", "dns", "down", "get", "kick", "restart", "scoreboard", "shutdown", "status", "trace", "up"}
	addRules("mod_ctrls_admin.c",
		rule("AdminControlsACLs", Root, ArgsAtLeast(4), func(c *Cmd) error {
			return checkModuleACLs(c, "", adminActs...)
		}),
		rule("AdminControlsEngine", Root, ArgsAtLeast(1), func(c *Cmd) error {
			if _, err := ParseBool(c.Args[0]); err == nil {
				return nil
			}
			// A list of the controls to disable; "all" is not special.
			for _, a := range ctrlsList(c.Args[0]) {
				ok := false
				for _, k := range adminActs {
					ok = ok || a == k
				}
				if !ok {
					return fmt.Errorf(": unknown action: '%s'", a)
				}
			}
			return nil
		}),
	)

	addRules("mod_load.c",
		rule("MaxLoad", serverish, func(c *Cmd) error {
			if len(c.Args) < 1 || len(c.Args) > 2 {
				return errors.New("incorrect number of parameters")
			}
			return nil
		}, func(c *Cmd) error {
			if strings.EqualFold(c.Args[0], "none") {
				return nil
			}
			if v, _ := strtod(c.Args[0]); v < 0 {
				return errors.New("positive load limit required")
			}
			return nil
		}),
	)

	addRules("mod_dynmasq.c",
		rule("DynMasqControlsACLs", Root, ArgsAtLeast(4), func(c *Cmd) error {
			return checkModuleACLs(c, "", "refresh")
		}),
		// mod_dynmasq checks the context before the count.
		rule("DynMasqRefresh", Root, nil, func(c *Cmd) error {
			if err := c.RequireArgs(1); err != nil {
				return err
			}
			if Atoi(c.Args[0]) < 1 {
				return fmt.Errorf("must be greater than zero: '%s'", c.Args[0])
			}
			return nil
		}),
	)

	addRules("mod_site_misc.c", rule("SiteMiscEngine", serverish, ArgsAtLeast(1), boolAt(0)))
	addRules("mod_facl.c", rule("FACLEngine", Root, ArgsAtLeast(1), boolAt(0)))
	addRules("mod_unique_id.c", rule("UniqueIDEngine", serverish, ArgsAtLeast(1), boolAt(0)))
	addRules("mod_copy.c",
		rule("CopyEngine", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("CopyOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if a != "NoDeleteOnFailure" {
					return fmt.Errorf(": unknown CopyOption '%s'", a)
				}
			}
			return nil
		}),
	)
	addRules("mod_deflate.c",
		rule("DeflateEngine", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("DeflateLog", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") {
				return fmt.Errorf(": %s is not a valid path", c.Args[0])
			}
			return nil
		}),
	)
	addRules("mod_readme.c",
		rule("DisplayReadme", anonish, nil, func(c *Cmd) error {
			if len(c.Args) != 1 {
				return errors.New("syntax: DisplayReadme <filename-or-pattern>")
			}
			return nil
		}),
	)

	addRules("mod_quotatab.c",
		rule("QuotaDefault", serverish, ArgsAtLeast(9), func(c *Cmd) error {
			switch strings.ToLower(c.Args[0]) {
			case "user", "group", "class", "all":
			default:
				return fmt.Errorf("unknown quota type '%s' configured", c.Args[0])
			}
			if _, err := ParseBool(c.Args[1]); err != nil {
				return fmt.Errorf("expected Boolean per-session parameter: %s", c.Args[1])
			}
			if !strings.EqualFold(c.Args[2], "soft") && !strings.EqualFold(c.Args[2], "hard") {
				return fmt.Errorf("expected 'soft' or 'hard' limit-type parameter: %s", c.Args[2])
			}
			return nil
		}),
		rule("QuotaDirectoryTally", serverish, ArgsAtLeast(1), boolAtMsg(0, "expected boolean argument")),
		rule("QuotaDisplayUnits", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			switch strings.ToLower(c.Args[0]) {
			case "b", "kb", "mb", "gb":
				return nil
			}
			return fmt.Errorf(": unknown display units: %s", c.Args[0])
		}),
		rule("QuotaEngine", serverish, ArgsAtLeast(1), boolAtMsg(0, "expected boolean argument")),
		rule("QuotaExcludeFilter", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if strings.EqualFold(c.Args[0], "none") {
				return nil
			}
			if msg, ok := checkPCRE2(c.Args[0]); !ok {
				return fmt.Errorf("'%s' failed regex compilation: %s", c.Args[0], msg)
			}
			return nil
		}),
		rule("QuotaLimitTable", serverish, ArgsAtLeast(1), checkQuotaTable),
		rule("QuotaTallyTable", serverish, ArgsAtLeast(1), checkQuotaTable),
		rule("QuotaLock", serverish, ArgsAtLeast(1), func(c *Cmd) error {
			if !strings.HasPrefix(c.Args[0], "/") {
				return errors.New("absolute path required")
			}
			return nil
		}),
		rule("QuotaLog", serverish, ArgsAtLeast(1), nil),
		rule("QuotaOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				if a != "ScanOnLogin" {
					return fmt.Errorf(": unknown QuotaOption: '%s'", a)
				}
			}
			return nil
		}),
		rule("QuotaShowQuotas", serverish, ArgsAtLeast(1), boolAtMsg(0, "expected boolean argument")),
	)

	addRules("mod_radius.c",
		rule("RadiusAcctServer", serverish, argsVar(2, 3), func(c *Cmd) error {
			return checkRadiusServer(c, "unable to resolve server address: ")
		}),
		rule("RadiusAuthServer", serverish, argsVar(2, 3), func(c *Cmd) error {
			return checkRadiusServer(c, "unable resolve server address: ")
		}),
		rule("RadiusEngine", serverish, ArgsAtLeast(1), boolAt(0)),
		rule("RadiusGroupInfo", serverish, ArgsAtLeast(3), func(c *Cmd) error {
			ngroups, ngids := 0, 0
			if !radiusHaveVar(c.Args[1]) {
				ngroups = len(ctrlsList(c.Args[1]))
			}
			if !radiusHaveVar(c.Args[2]) {
				for _, g := range ctrlsList(c.Args[2]) {
					if _, rest, _ := strtoul(g); rest != "" {
						c.Warnf("RadiusGroupInfo badly formed group ID: %s", g)
						return errors.New("badly formatted group IDs")
					}
					ngids++
				}
			}
			if ngroups > 0 && ngids > 0 && ngroups != ngids {
				return fmt.Errorf("mismatched number of group names (%d) and group IDs (%d)", ngroups, ngids)
			}
			return nil
		}),
		rule("RadiusLog", serverish, ArgsBetween(1, 1), nil),
		rule("RadiusNASIdentifier", serverish, ArgsAtLeast(1), nil),
		rule("RadiusOptions", serverish, argsAtLeast1Wrong, func(c *Cmd) error {
			for _, a := range c.Args {
				switch a {
				case "IgnoreReplyMessage", "IgnoreClass", "IgnoreIdleTimeout", "IgnoreSessionTimeout", "RequireMAC":
				default:
					// mod_radius's own words (it says TLSOption).
					return fmt.Errorf(": unknown TLSOption '%s'", a)
				}
			}
			return nil
		}),
		rule("RadiusQuotaInfo", serverish, ArgsAtLeast(8), func(c *Cmd) error {
			a := c.Args
			if !radiusHaveVar(a[0]) && !strings.EqualFold(a[0], "false") && !strings.EqualFold(a[0], "true") {
				return errors.New("invalid per-session value")
			}
			if !radiusHaveVar(a[1]) && !strings.EqualFold(a[1], "hard") && !strings.EqualFold(a[1], "soft") {
				return errors.New("invalid limit type value")
			}
			for _, v := range a[2:5] {
				if radiusHaveVar(v) {
					continue
				}
				n, rest := strtod(v)
				if n < 0 {
					return errors.New("negative bytes value not allowed")
				}
				if rest != "" {
					return errors.New("invalid bytes parameter: not a number")
				}
			}
			for _, v := range a[5:8] {
				if radiusHaveVar(v) {
					continue
				}
				if _, rest, _ := strtoul(v); rest != "" {
					return errors.New("invalid files parameter: not a number")
				}
			}
			return nil
		}),
		rule("RadiusRealm", serverish, ArgsAtLeast(1), nil),
		rule("RadiusUserInfo", serverish, ArgsAtLeast(4), func(c *Cmd) error {
			a := c.Args
			if !radiusHaveVar(a[0]) {
				if _, rest, _ := strtoul(a[0]); rest != "" {
					return errors.New("invalid UID parameter: not a number")
				}
			}
			if !radiusHaveVar(a[1]) {
				if _, rest, _ := strtoul(a[1]); rest != "" {
					return errors.New("invalid GID parameter: not a number")
				}
			}
			if !radiusHaveVar(a[2]) && !strings.HasPrefix(a[2], "/") {
				return errors.New("home relative path not allowed")
			}
			if !radiusHaveVar(a[3]) && !strings.HasPrefix(a[3], "/") {
				return errors.New("shell relative path not allowed")
			}
			return nil
		}),
		rule("RadiusVendor", serverish, ArgsAtLeast(2), func(c *Cmd) error {
			id, rest, _ := Strtol(c.Args[1])
			if rest != "" {
				return fmt.Errorf(": vendor id '%s' is not a valid number", c.Args[1])
			}
			if id < 0 {
				return errors.New("vendor id must be a positive number")
			}
			return nil
		}),
	)
}

func checkQuotaTable(c *Cmd) error {
	if !strings.Contains(c.Args[0], ":") {
		return errBadlyFormattedParameter
	}
	return nil
}

var errBadlyFormattedParameter = errors.New("badly formatted parameter")

// checkRadiusServer is RadiusAcctServer and RadiusAuthServer: server[:port]
// secret [timeout]; the port must be above 1023 (as an unsigned short) and
// the server must resolve. mod_radius quotes the server in its timeout
// message.
func checkRadiusServer(c *Cmd, unresolved string) error {
	server := c.Args[0]
	if host, port, ok := strings.Cut(server, ":"); ok {
		server = host
		if uint16(Atoi(port)) < 1024 {
			return errors.New("port number must be greater than 1023")
		}
	}
	if err := c.p.resolveACLAddr(server, c.p.cfg.Main.UseIPv6); err != nil {
		return errors.New(unresolved + server)
	}
	if len(c.Args) == 3 {
		if _, err := ParseDuration(c.Args[2]); err != nil {
			return fmt.Errorf("error parsing timeout value '%s': %s", server, Strerror(err))
		}
	}
	return nil
}

// radiusHaveVar is mod_radius's test for a "$(id:default)" variable.
func radiusHaveVar(v string) bool {
	if len(v) < 7 || !strings.HasPrefix(v, "$(") || !strings.HasSuffix(v, ")") {
		return false
	}
	i := strings.IndexByte(v, ':')
	if i < 3 || i > len(v)-2 {
		return false
	}
	return Atoi(v[2:i]) >= 1
}
