package app

import (
	"errors"
	"testing"
)

// An adapter's errors name it already: the wiring does not say it twice.
func TestNamedSaysThePartOnce(t *testing.T) {
	for in, want := range map[string]string{
		"atlas: integration \"prod\": bad key": "atlas: integration \"prod\": bad key",
		"bad key":                              "atlas: bad key",
		"atlasx: y":                            "atlas: atlasx: y",
	} {
		inner := errors.New(in)
		err := named("atlas", inner)
		if err.Error() != want || !errors.Is(err, inner) {
			t.Errorf("named(atlas, %q) = %q, want %q", in, err, want)
		}
	}
}
