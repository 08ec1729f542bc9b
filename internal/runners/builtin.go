package runners

import (
	"context"
	"errors"
	"fmt"

	"github.com/ciwarden/ciwarden/internal/auth"
	"github.com/ciwarden/ciwarden/internal/model"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/store"
)

// A built-in runner belongs to one replica (issue 20, item 3): its row in
// builtin_runners is keyed by the replica's name, so that a restart reuses
// it, even on a fresh data directory, and two replicas never share one
// (each fails only its own runner's jobs when it restarts). Its token is
// kept sealed with the instance key, which every replica shares: the
// server needs the token itself to call its own runner protocol, and no
// secret is kept in clear at rest.

// sealContext binds a sealed token to its row: a value copied to another
// replica's row does not open there.
func sealContext(replica string) []byte {
	return []byte("builtin_runners.token_sealed/" + replica)
}

// errRaced: another process registered the replica's runner first.
var errRaced = errors.New("built-in runner registered concurrently")

// Builtin returns the token and runner of replica's built-in runner,
// registering one when there is none and create is set; r is nil when
// there is none and create is not set.
func (s *Service) Builtin(ctx context.Context, box *secretbox.Box, replica string, create bool) (tok string, r *model.Runner, err error) {
	r, sealed, err := s.Store.BuiltinRunner(ctx, replica)
	switch {
	case err == nil:
		plain, err := box.Open(sealed, sealContext(replica))
		if err != nil {
			return "", nil, fmt.Errorf("the built-in runner of replica %s: its token does not open with this instance key (every replica must have the same CIWARDEN_INSTANCE_KEY)", replica)
		}
		return string(plain), r, nil
	case !errors.Is(err, model.ErrNotFound):
		return "", nil, err
	case !create:
		return "", nil, nil
	}
	tok = auth.NewSecret(auth.RunnerTokenPrefix)
	r = &model.Runner{Type: model.InstanceRunner, Description: "built-in runner (" + replica + ")", RunUntagged: true, CreatedAt: s.Now()}
	err = s.Store.Tx(ctx, func(q *store.Queries) error {
		if err := q.CreateRunner(ctx, r, auth.Digest(tok)); err != nil {
			return err
		}
		added, err := q.AddBuiltinRunner(ctx, replica, r.ID, box.Seal([]byte(tok), sealContext(replica)))
		if err == nil && !added {
			err = errRaced // the runner row goes with the transaction
		}
		return err
	})
	if errors.Is(err, errRaced) {
		return s.Builtin(ctx, box, replica, false)
	}
	if err != nil {
		return "", nil, err
	}
	return tok, r, nil
}

// AdoptBuiltin makes the runner whose token is tok replica's built-in
// runner, unless the replica has one already or the runner is another
// replica's: the move of a runner kept in a data directory's token file
// (before replicas had runners of their own) into the database.
func (s *Service) AdoptBuiltin(ctx context.Context, box *secretbox.Box, replica, tok string) error {
	r, err := s.Store.RunnerByDigest(ctx, auth.Digest(tok))
	if errors.Is(err, model.ErrNotFound) {
		return nil // deleted: nothing to adopt
	}
	if err != nil {
		return err
	}
	_, err = s.Store.AddBuiltinRunner(ctx, replica, r.ID, box.Seal([]byte(tok), sealContext(replica)))
	return err
}
