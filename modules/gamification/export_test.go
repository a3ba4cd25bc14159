package gamification

import "context"

// HoldBatches makes every grant batch of s call hold with its grants
// before it commits. Set it before the first grant.
func (s *Service) HoldBatches(hold func([]Grant)) { s.batch.beforeCommit = hold }

// BatchState reports the batches committed and the grants waiting for one.
func (s *Service) BatchState() (batches int64, waiting int) {
	s.batch.mu.Lock()
	defer s.batch.mu.Unlock()
	return s.batch.batches, len(s.batch.waiting)
}

// GrantMany is the store's batch commit: one error per grant.
func (s *Store) GrantMany(ctx context.Context, gs []Grant) ([]error, error) {
	res, err := s.grantMany(ctx, gs)
	if err != nil {
		return nil, err
	}
	out := make([]error, len(res))
	for i, r := range res {
		out[i] = r.err
	}
	return out, nil
}
