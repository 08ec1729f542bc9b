package git

import (
	"errors"
	"os"
	"path/filepath"
	"strings"

	"github.com/ciwarden/ciwarden/internal/authz"
	"github.com/ciwarden/ciwarden/internal/gate"
	"github.com/ciwarden/ciwarden/internal/model"
)

// Protected refs on push (issue 16). Each ref a push changes is decided
// before git runs, from the commands at the start of the request (which
// receivePack reads anyway): one authz decision per ref, check
// protected_ref. What cannot be known before the pack arrives is whether
// an update of a branch rewrites history; for the branches where that is
// refused, a pre-receive hook asks git (merge-base --is-ancestor, on the
// quarantined objects). The hook decides nothing: it is told the refusal
// or the branches that may only move forward, through its environment,
// and answers with the message it was given, so git shows it as the
// remote's words and rejects the whole push, as GitLab does. A push that
// touches no protected ref runs no hook at all.

// hookScript is the pre-receive hook. CIWARDEN_REFUSE refuses the push;
// CIWARDEN_NO_FORCE_FILE lists (one a line) the refs that must move
// forward, refused with CIWARDEN_NO_FORCE_MESSAGE otherwise.
const hookScript = `#!/bin/sh
# Written by ciwarden (internal/git/protected.go): protected refs.
if [ -n "$CIWARDEN_REFUSE" ]; then
	printf '%s\n' "$CIWARDEN_REFUSE" >&2
	exit 1
fi
[ -n "$CIWARDEN_NO_FORCE_FILE" ] || exit 0
zero=0000000000000000000000000000000000000000
while read -r old new ref; do
	[ "$old" = "$zero" ] && continue
	[ "$new" = "$zero" ] && continue
	grep -qxF -e "$ref" "$CIWARDEN_NO_FORCE_FILE" || continue
	if ! git merge-base --is-ancestor "$old" "$new" 2>/dev/null; then
		printf '%s\n' "$CIWARDEN_NO_FORCE_MESSAGE" >&2
		exit 1
	fi
done
exit 0
`

// hooksDir writes the hook under the repositories root once (replicas
// sharing the root write the same bytes, renamed into place) and returns
// its directory, for core.hooksPath.
func (h *Handler) hooksDir() (string, error) {
	h.hookOnce.Do(func() {
		dir := filepath.Join(h.Repos.Root, ".hooks")
		path := filepath.Join(dir, "pre-receive")
		if b, err := os.ReadFile(path); err == nil && string(b) == hookScript {
			h.hookDir = dir
			return
		}
		if h.hookErr = os.MkdirAll(dir, 0o750); h.hookErr != nil {
			return
		}
		f, err := os.CreateTemp(dir, ".pre-receive-*")
		if err != nil {
			h.hookErr = err
			return
		}
		_, err = f.WriteString(hookScript)
		err = errors.Join(err, f.Chmod(0o755), f.Close())
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			os.Remove(f.Name())
			h.hookErr = err
			return
		}
		h.hookDir = dir
	})
	return h.hookDir, h.hookErr
}

// refVerdict is what the decisions of a push's refs tell its hook.
type refVerdict struct {
	refuse       string   // the first refusal's message: the push is refused
	noForce      []string // branches that may move only forward
	forceMessage string
}

// decideRefs decides every ref the push changes. A refusal by another
// check than protected_ref cannot happen here (the route's push_code
// passed with the same facts), but would refuse the push all the same.
func decideRefs(c *gate.Ctx, updates []RefUpdate) (refVerdict, error) {
	var v refVerdict
	for _, u := range updates {
		kind, _ := model.SplitRef(u.Ref)
		var act authz.Action
		switch {
		case kind == model.RefBranch && u.Deleted():
			act = authz.DeleteBranch
		case kind == model.RefBranch && u.Old == ZeroSHA:
			act = authz.CreateBranch
		case kind == model.RefBranch:
			act = authz.PushBranch
		case kind == model.RefTag && u.Deleted():
			act = authz.DeleteTag
		case kind == model.RefTag && u.Old == ZeroSHA:
			act = authz.CreateTag
		case kind == model.RefTag:
			act = authz.UpdateTag
		default:
			continue
		}
		msg, err := refusal(c.AuthorizeRef(act, u.Ref))
		if err != nil {
			return v, err
		}
		if msg != "" {
			v.refuse = msg
			return v, nil
		}
		if act.Ref != authz.RefPush {
			continue
		}
		// Allowed to push: whether it may also rewrite history, which the
		// hook checks only if it does.
		if msg, err = refusal(c.AuthorizeRef(authz.ForcePushBranch, u.Ref)); err != nil {
			return v, err
		}
		if msg != "" {
			v.noForce = append(v.noForce, u.Ref)
			v.forceMessage = msg
		}
	}
	return v, nil
}

// refusal is the message of a denial, "" when err is nil, or err itself
// when it is not a denial.
func refusal(err error) (string, error) {
	var denied *gate.Denied
	if errors.As(err, &denied) {
		return denied.Decision.Message, nil
	}
	return "", err
}

// hookEnv is the hooks directory and the environment that make git run
// the hook with v; "" and nil when the push needs no hook. cleanup removes
// what it wrote.
func (h *Handler) hookEnv(v refVerdict) (dir string, env []string, cleanup func(), err error) {
	cleanup = func() {}
	if v.refuse == "" && len(v.noForce) == 0 {
		return "", nil, cleanup, nil
	}
	if dir, err = h.hooksDir(); err != nil {
		return "", nil, cleanup, err
	}
	if v.refuse != "" {
		return dir, []string{"CIWARDEN_REFUSE=" + v.refuse}, cleanup, nil
	}
	// A file, not a variable: a push may name thousands of refs, more
	// than one environment string holds.
	f, err := os.CreateTemp("", "ciwarden-noforce-*")
	if err != nil {
		return "", nil, cleanup, err
	}
	_, err = f.WriteString(strings.Join(v.noForce, "\n") + "\n")
	if err = errors.Join(err, f.Close()); err != nil {
		os.Remove(f.Name())
		return "", nil, cleanup, err
	}
	env = []string{"CIWARDEN_NO_FORCE_FILE=" + f.Name(), "CIWARDEN_NO_FORCE_MESSAGE=" + v.forceMessage}
	return dir, env, func() { os.Remove(f.Name()) }, nil
}
