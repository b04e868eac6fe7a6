package app

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// snapshotter is a Backend whose Backup writes data, then fails with err
// when it is set.
type snapshotter struct {
	Backend
	data []byte
	err  error
}

func (s snapshotter) Backup(w io.Writer) (int64, error) {
	n, err := w.Write(s.data)
	if err == nil {
		err = s.err
	}
	return int64(n), err
}

// The client of GET /admin/backup takes only a whole snapshot: the size
// and SHA-256 the server sends after it must match what arrived.
func TestBackupClientChecksTheSnapshotArrivedWhole(t *testing.T) {
	data := bytes.Repeat([]byte("snapshot "), 10000)
	sum := sha256.Sum256(data)
	api := func(db Backend) http.Handler {
		mux := http.NewServeMux()
		(&adminAPI{token: "t0ken", db: db, clock: flows.SystemClock{}, log: slog.New(slog.DiscardHandler)}).routes(mux)
		return mux
	}
	// A server that says what it likes after the body.
	lying := func(size, digest string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Trailer", BackupSizeTrailer+", "+BackupSHA256Trailer)
			_, _ = w.Write(data)
			if size != "" {
				w.Header().Set(BackupSizeTrailer, size)
				w.Header().Set(BackupSHA256Trailer, digest)
			}
		})
	}
	tests := []struct {
		name    string
		handler http.Handler
		token   string
		want    string // empty: the snapshot is taken
	}{
		{"whole", api(snapshotter{data: data}), "t0ken", ""},
		{"bad token", api(snapshotter{data: data}), "guess", "bad or missing admin token"},
		{"failed midway", api(snapshotter{data: data[:100], err: errors.New("store: backup: disk\nerror")}), "t0ken", "the server's backup failed after 100 bytes: store: backup: disk error"},
		{"no trailers", lying("", ""), "t0ken", "it did not say the snapshot was whole"},
		{"short", lying("999999", hex.EncodeToString(sum[:])), "t0ken", "backup cut short: 90000 bytes arrived, the server sent 999999"},
		{"damaged", lying("90000", strings.Repeat("0", 64)), "t0ken", "backup damaged in transit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			c := &AdminClient{base: srv.URL, token: tt.token, http: srv.Client()}
			var got bytes.Buffer
			n, err := c.Backup(context.Background(), &got)
			if tt.want == "" {
				if err != nil || n != int64(len(data)) || !bytes.Equal(got.Bytes(), data) {
					t.Fatalf("%d bytes, %v", n, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want an error with %q, got %v", tt.want, err)
			}
		})
	}
}
