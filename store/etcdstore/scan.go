package etcdstore

import (
	"context"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// scanPage is how many keys a scan reads at a time.
const scanPage = 500

// scan calls fn with every key under prefix, in key order, as of one
// revision (rev, or the first page's when 0), reading a page at a time so
// that no response grows with the store. fn runs outside the read's
// timeout: the caller may write from it.
func (s *Store) scan(ctx context.Context, what, prefix string, rev int64, fn func(kv *mvccpb.KeyValue) error) error {
	from, end := prefix, rangeEnd(prefix)
	for {
		var resp *clientv3.GetResponse
		err := s.read(ctx, what, func(ctx context.Context) error {
			opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(scanPage)}
			if rev > 0 {
				opts = append(opts, clientv3.WithRev(rev))
			}
			var err error
			resp, err = s.cli.Get(ctx, from, opts...)
			return err
		})
		if err != nil {
			return err
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(kv); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		from = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}
