package ci

import (
	"context"
	"errors"
	"strings"

	"github.com/ciwarden/ciwarden/internal/git"
	"github.com/ciwarden/ciwarden/internal/model"
)

// OnPush creates a pipeline, as the pusher, for every branch or tag the
// push created or moved. Deleting a ref creates none.
func (s *Service) OnPush(ctx context.Context, push git.Push) {
	if push.Pusher == nil || push.Pusher.User == nil {
		return
	}
	for _, u := range push.Updates {
		if u.Deleted() {
			continue
		}
		in := CreateInput{Project: push.Project, User: push.Pusher.User, SHA: u.New, BeforeSHA: u.Old, Source: model.SourcePush}
		switch {
		case strings.HasPrefix(u.Ref, "refs/heads/"):
			in.Ref = strings.TrimPrefix(u.Ref, "refs/heads/")
		case strings.HasPrefix(u.Ref, "refs/tags/"):
			in.Ref, in.Tag = strings.TrimPrefix(u.Ref, "refs/tags/"), true
		default:
			continue
		}
		if _, err := s.CreatePipeline(ctx, in); err != nil {
			var refused *RefusedError
			if errors.As(err, &refused) {
				s.Log.Debug("push created no pipeline", "project_id", push.Project.ID, "ref", in.Ref, "reason", refused.Reason)
				continue
			}
			s.Log.Error("create pipeline for push", "project_id", push.Project.ID, "ref", in.Ref, "err", err)
		}
	}
}
