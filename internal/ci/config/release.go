package config

// Release is a job's `release:` (issue 18; GitLab's release keyword): the
// release the job creates after its script succeeds. Values are kept as
// written: the job's shell expands variables in them, as GitLab's
// release-cli step does. Milestones are read and ignored (ciwarden has no
// milestones); the job's log says so.
type Release struct {
	TagName     string        `json:"tag_name"`
	TagMessage  string        `json:"tag_message,omitempty"`
	Name        string        `json:"name,omitempty"`
	Description string        `json:"description"`
	Ref         string        `json:"ref,omitempty"`
	ReleasedAt  string        `json:"released_at,omitempty"`
	Milestones  []string      `json:"milestones,omitempty"`
	Links       []ReleaseLink `json:"links,omitempty"`
}

// ReleaseLink is one entry of release:assets:links.
type ReleaseLink struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Filepath string `json:"filepath,omitempty"`
	LinkType string `json:"link_type,omitempty"`
}

// maxReleaseLinks bounds release:assets:links (the API's own bound).
const maxReleaseLinks = 100

func (d *decoder) release(s *jobState, v *value) error {
	v, err := d.deref(v)
	if err != nil {
		return err
	}
	if v.kind != mapKind {
		return errAt(v, "release must be a mapping, not %s", v.describe())
	}
	r := &Release{}
	fields := map[string]*string{"tag_name": &r.TagName, "tag_message": &r.TagMessage, "name": &r.Name,
		"description": &r.Description, "ref": &r.Ref, "released_at": &r.ReleasedAt}
	for i := range v.entries {
		e := &v.entries[i]
		switch f, ok := fields[e.key]; {
		case ok:
			*f, err = d.str(e.val, "release:"+e.key)
		case e.key == "milestones":
			r.Milestones, err = d.strs(e.val, "release:milestones", false)
		case e.key == "assets":
			r.Links, err = d.releaseAssets(e.val)
		default:
			err = errAtKey(e, "unknown release keyword %q", e.key)
		}
		if err != nil {
			return err
		}
	}
	switch {
	case r.TagName == "":
		return errAt(v, "release:tag_name must be set")
	case r.Description == "":
		// GitLab requires it too (the release-cli step sends it).
		return errAt(v, "release:description must be set")
	}
	s.j.Release = r
	return nil
}

func (d *decoder) releaseAssets(v *value) ([]ReleaseLink, error) {
	v, err := d.deref(v)
	if err != nil {
		return nil, err
	}
	if v.kind != mapKind {
		return nil, errAt(v, "release:assets must be a mapping, not %s", v.describe())
	}
	var out []ReleaseLink
	for i := range v.entries {
		e := &v.entries[i]
		if e.key != "links" {
			return nil, errAtKey(e, "unknown release:assets keyword %q", e.key)
		}
		items, err := d.list(e.val, "release:assets:links")
		if err != nil {
			return nil, err
		}
		if len(items) > maxReleaseLinks {
			return nil, errAt(e.val, "release:assets:links has %d entries, more than %d", len(items), maxReleaseLinks)
		}
		for _, it := range items {
			l, err := d.releaseLink(it)
			if err != nil {
				return nil, err
			}
			out = append(out, l)
		}
	}
	return out, nil
}

func (d *decoder) releaseLink(v *value) (ReleaseLink, error) {
	var l ReleaseLink
	if v.kind != mapKind {
		return l, errAt(v, "release:assets:links entries must be mappings, not %s", v.describe())
	}
	var err error
	for i := range v.entries {
		e := &v.entries[i]
		switch e.key {
		case "name":
			l.Name, err = d.str(e.val, "release:assets:links:name")
		case "url":
			l.URL, err = d.str(e.val, "release:assets:links:url")
		case "filepath", "direct_asset_path":
			l.Filepath, err = d.str(e.val, "release:assets:links:"+e.key)
		case "link_type":
			l.LinkType, err = d.oneOf(e.val, "release:assets:links:link_type", releaseLinkTypes...)
		default:
			err = errAtKey(e, "unknown release:assets:links keyword %q", e.key)
		}
		if err != nil {
			return l, err
		}
	}
	if l.Name == "" || l.URL == "" {
		return l, errAt(v, "release:assets:links entries need name and url")
	}
	return l, nil
}

var releaseLinkTypes = []string{"other", "runbook", "image", "package"}
