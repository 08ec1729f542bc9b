package authz

import "github.com/ciwarden/ciwarden/internal/model"

// LinkOutboundTarget is adding a project to another project's outbound
// allowlist, decided on the project added: the seed has whoever limits a
// project's token to a target be a Maintainer of both (the route decides
// AdminJobTokenScope on the source).
var LinkOutboundTarget = Action{Name: "link_outbound_target", Write: true, Min: model.Maintainer}
