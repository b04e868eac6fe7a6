package etcdstore_test

import (
	"testing"

	"github.com/jitbot/jitbot/bot/identity"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
)

// The identity provider's sign-in state lives on etcd too, so that OIDC
// identity runs on several replicas.
var _ identity.Records = (*etcdstore.Store)(nil)

func TestSignInSuite(t *testing.T) {
	_, open := opener(t)
	flowstest.SignInSuite(t, func(t *testing.T) flowstest.SignIns { return open(t) },
		func(t *testing.T, s flowstest.SignIns) flowstest.SignIns {
			return reopen(t, s.(*etcdstore.Store)).(*etcdstore.Store)
		})
}
