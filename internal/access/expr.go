package access

import (
	"strings"
)

// exprEval is how an AllowUser/DenyUser/AllowGroup/DenyGroup/DefaultRoot
// expression is evaluated.
type exprEval int

const (
	evalOr  exprEval = iota // true if any entry holds
	evalAnd                 // true if every entry holds
)

// expr is one user or group expression: entries, each a name or "!name".
type expr struct {
	eval    exprEval
	entries []string
}

// splitExpr builds the entry list as ProFTPD's pr_expr_create does: each
// word is split at commas (empty pieces dropped), a word without a comma
// is kept as it is.
func splitExpr(words []string) []string {
	var out []string
	for _, w := range words {
		if !strings.Contains(w, ",") {
			out = append(out, w)
			continue
		}
		for _, e := range strings.Split(w, ",") {
			if e != "" {
				out = append(out, e)
			}
		}
	}
	return out
}

// evalUsers is pr_expr_eval_user_or/and for the session's user name
// ("" before login).
func (e *expr) evalUsers(user string, loggedIn bool) bool {
	if len(e.entries) == 0 {
		return false // ProFTPD's evaluators return -1 (an error) for an empty list
	}
	for _, ent := range e.entries {
		found := false
		name := ent
		if strings.HasPrefix(name, "!") {
			found = true
			name = name[1:]
		}
		if loggedIn && user == name {
			found = !found
		}
		if e.eval == evalOr && found {
			return true
		}
		if e.eval == evalAnd && !found {
			return false
		}
	}
	return e.eval == evalAnd
}

// evalGroups is pr_expr_eval_group_or/and: membership is the primary
// group or any of the supplementary groups (groups[0] is the primary).
func (e *expr) evalGroups(groups []string) bool {
	if len(e.entries) == 0 {
		return false
	}
	for _, ent := range e.entries {
		found := false
		name := ent
		if strings.HasPrefix(name, "!") {
			found = true
			name = name[1:]
		}
		for _, g := range groups {
			if g == name {
				found = !found
				break
			}
		}
		if e.eval == evalOr && found {
			return true
		}
		if e.eval == evalAnd && !found {
			return false
		}
	}
	return e.eval == evalAnd
}
