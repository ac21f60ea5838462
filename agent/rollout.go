package agent

import (
	"context"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/tether-net/tether/policy"
)

// waitForWaves holds a commit back until every site of the earlier rollout
// waves has recorded an outcome for it. It returns a reason to wait, or a
// reason to halt when an earlier wave reverted or rejected the commit.
// Sites joined to this one by a link the commit changes at both ends are
// not waited for: that change has to land at both ends together, and the
// gate coordinates it.
func (a *Agent) waitForWaves(ctx context.Context, n *policy.Network, commit string, twoEnded map[string]bool) (wait, halt string) {
	if a.Notes == nil {
		return "", ""
	}
	mine := -1
	for i, w := range n.Rollout.Waves {
		if slices.Contains(w, a.Site) {
			mine = i
		}
	}
	coupled := map[string]bool{}
	for _, side := range n.LinksOf(a.Site) {
		if twoEnded[side.Link.Name] {
			coupled[side.Remote.Site] = true
		}
	}
	var earlier []string
	for i := 0; i < mine; i++ {
		for _, site := range n.Rollout.Waves[i] {
			if !coupled[site] {
				earlier = append(earlier, site)
			}
		}
	}
	results, batchErr := a.results(ctx, commit, earlier)
	for i := 0; i < mine; i++ {
		for _, site := range n.Rollout.Waves[i] {
			if coupled[site] {
				continue
			}
			r, err := results[site], batchErr
			switch {
			case err != nil:
				return fmt.Sprintf("cannot read %s's note: %v", site, err), ""
			case r == "":
				return fmt.Sprintf("%s (wave %d) has not recorded this commit yet", site, i+1), ""
			case r == ResultReverted || r == ResultRejected:
				return "", fmt.Sprintf("rollout halted: %s (wave %d) %s this commit", site, i+1, r)
			}
		}
	}
	return "", ""
}

// resultsReader is a Notebook that reads several sites' results with one
// fetch (notebook.Git), so a wave check costs what the wave holds, not one
// round trip per site.
type resultsReader interface {
	Results(ctx context.Context, commit string, sites []string) (map[string]string, error)
}

// results returns each site's latest result for commit.
func (a *Agent) results(ctx context.Context, commit string, sites []string) (map[string]string, error) {
	if len(sites) == 0 {
		return nil, nil
	}
	if rr, ok := a.Notes.(resultsReader); ok {
		return rr.Results(ctx, commit, sites)
	}
	out := make(map[string]string, len(sites))
	for _, site := range sites {
		r, err := a.Notes.Result(ctx, commit, site)
		if err != nil {
			return nil, err
		}
		out[site] = r
	}
	return out, nil
}

// farEndGaveUp returns a reason not to apply when the far end of a
// two-ended link has already reverted or rejected the commit: it is back at
// the link's prior configuration and will not apply this commit again, so
// applying here could only take the link down until the gate gives up.
func (a *Agent) farEndGaveUp(ctx context.Context, n *policy.Network, commit string, twoEnded map[string]bool) string {
	if a.Notes == nil {
		return ""
	}
	for _, side := range n.LinksOf(a.Site) {
		if !twoEnded[side.Link.Name] {
			continue
		}
		far := side.Remote.Site
		r, err := a.Notes.Result(ctx, commit, far)
		if err != nil {
			// Unknown is not "gave up": the gate reads the note again.
			a.log().Info("cannot read the far end's note", zap.String("step", "coupling"), zap.String("far_end", far), zap.Error(err))
			continue
		}
		if r == ResultReverted || r == ResultRejected {
			return fmt.Sprintf("the far end of %s (%s) %s this commit; the link changes at both ends, so it is not applied here", side.Link.Name, far, r)
		}
	}
	return ""
}
