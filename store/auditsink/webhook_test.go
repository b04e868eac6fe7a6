package auditsink_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/auditsink"
)

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"events":[{"id":"abc-1","seq":1}]}`)
	now := t0
	signed := func(key string, at time.Time, b []byte) http.Header {
		ts := strconv.FormatInt(at.Unix(), 10)
		h := http.Header{}
		h.Set(auditsink.HeaderTimestamp, ts)
		h.Set(auditsink.HeaderSignature, auditsink.Sign([]byte(key), ts, b))
		return h
	}
	for _, tt := range []struct {
		name string
		h    http.Header
		body []byte
		want error
	}{
		{"good", signed(secret, now, body), body, nil},
		{"good, sent 4 minutes ago", signed(secret, now.Add(-4*time.Minute), body), body, nil},
		{"another secret", signed("another-secret-0123456789", now, body), body, auditsink.ErrBadSignature},
		{"an altered body", signed(secret, now, body), []byte(`{"events":[{"id":"abc-1","seq":2}]}`), auditsink.ErrBadSignature},
		{"a replay 6 minutes old", signed(secret, now.Add(-6*time.Minute), body), body, auditsink.ErrStale},
		{"from 6 minutes in the future", signed(secret, now.Add(6*time.Minute), body), body, auditsink.ErrStale},
		{"unsigned", http.Header{}, body, auditsink.ErrNoSignature},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := auditsink.VerifySignature([]byte(secret), tt.h, tt.body, now); !errors.Is(err, tt.want) {
				t.Fatalf("verify: %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("a timestamp that is not a number", func(t *testing.T) {
		h := signed(secret, now, body)
		h.Set(auditsink.HeaderTimestamp, "yesterday")
		if err := auditsink.VerifySignature([]byte(secret), h, body, now); err == nil {
			t.Fatal("a non-numeric timestamp verified")
		}
	})
	t.Run("the signature is Slack's scheme: HMAC-SHA256 over v1:ts:body, hex, v1= prefixed", func(t *testing.T) {
		// Computed independently: printf 'v1:1700000000:{}' | openssl dgst -sha256 -hmac key
		const want = "v1=584e59c409146d134b9c5f3551be5110dcd1cf3262710509ae10c5cc17a991cb"
		if got := auditsink.Sign([]byte("key"), "1700000000", []byte("{}")); got != want {
			t.Fatalf("signature %q, want %q", got, want)
		}
	})
}

func TestTheWebhookReceiverRefusesWhatDoesNotVerify(t *testing.T) {
	senderClock := flowstest.NewClock(t0)
	receiverClock := flowstest.NewClock(t0)
	r := newReceiver(t, secret, receiverClock)
	events := []auditsink.Event{{ID: "c-1", Chain: "c", Seq: 1, Hash: "h1", At: t0, Type: "submitted"}}

	wrong, err := auditsink.NewWebhook(r.srv.URL, "a-wrong-secret-0123456789", r.srv.Client(), senderClock)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.Send(context.Background(), events); err == nil {
		t.Fatal("a batch signed with the wrong secret was acknowledged")
	}
	// A sender whose clock is 10 minutes behind looks like a replay.
	late, err := auditsink.NewWebhook(r.srv.URL, secret, r.srv.Client(), flowstest.NewClock(t0.Add(-10*time.Minute)))
	if err != nil {
		t.Fatal(err)
	}
	if err := late.Send(context.Background(), events); err == nil {
		t.Fatal("a batch 10 minutes old was acknowledged")
	}
	_, refused := r.stats()
	if len(refused) != 2 || !errors.Is(refused[0], auditsink.ErrBadSignature) || !errors.Is(refused[1], auditsink.ErrStale) {
		t.Fatalf("refusals %v, want a bad signature then a stale one", refused)
	}
	good := webhook(t, r, senderClock)
	if err := good.Send(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	if got := r.got(); len(got) != 1 || got[0] != events[0] {
		t.Fatalf("received %+v", got)
	}
}
