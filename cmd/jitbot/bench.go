package main

import (
	"context"
	"errors"
)

func (e *env) bench(ctx context.Context, args []string) error {
	return errors.New("bench: not yet")
}
