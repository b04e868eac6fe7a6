package bot

import (
	"fmt"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows/flowstest"
)

func TestCacheDedupes(t *testing.T) {
	clock := flowstest.NewClock(t0)
	c := NewCache[struct{}](clock, time.Minute, 3)
	first := func(key string) bool { return c.Add(key, struct{}{}) }
	if !first("a") || first("a") {
		t.Fatal("a twice")
	}
	for range 2 {
		if !first("") {
			t.Error("an empty key is never a duplicate")
		}
	}
	clock.Advance(61 * time.Second)
	if !first("a") {
		t.Error("a remembered past its TTL")
	}
	for _, k := range []string{"b", "c", "d"} {
		first(k)
	}
	if !first("a") {
		t.Error("the oldest key kept past the size bound")
	}
	if first("d") {
		t.Error("a recent key forgotten")
	}
	if len(c.items) > 3 {
		t.Errorf("%d keys kept, bound 3", len(c.items))
	}
	// Many keys over many TTLs stay bounded.
	for i := range 10000 {
		first(fmt.Sprint(i))
		if i%100 == 0 {
			clock.Advance(time.Minute)
		}
	}
	if len(c.items) > 3 || len(c.order)-c.head > 3 {
		t.Errorf("grew to %d keys, %d queued", len(c.items), len(c.order)-c.head)
	}
}

func TestCacheReplacesAndExpires(t *testing.T) {
	clock := flowstest.NewClock(t0)
	c := NewCache[string](clock, time.Minute, 2)
	c.Put("a", "1")
	c.Put("b", "2")
	c.Put("a", "3") // a's first slot in the order must not evict this put
	c.Put("c", "4")
	if v, ok := c.Get("a"); !ok || v != "3" {
		t.Errorf("a = %q, %v; want the newer put", v, ok)
	}
	if _, ok := c.Get("b"); ok {
		t.Error("b, the oldest, kept past the size bound")
	}
	clock.Set(t0.Add(-time.Hour))
	if _, ok := c.Get("a"); ok {
		t.Error("an entry outlived its TTL on a clock set backwards")
	}
	clock.Set(t0.Add(time.Minute))
	if _, ok := c.Get("c"); ok {
		t.Error("c outlived its TTL")
	}
}

func TestCacheDeletes(t *testing.T) {
	clock := flowstest.NewClock(t0)
	c := NewCache[string](clock, time.Minute, 2)
	c.Put("a", "1")
	c.Put("b", "2")
	c.Delete("a")
	c.Delete("nothing")
	if _, ok := c.Get("a"); ok {
		t.Error("a deleted key is still there")
	}
	if !c.Add("a", "3") {
		t.Error("a deleted key counts as a duplicate")
	}
	c.Put("c", "4") // a's stale slot must not evict the newer a, nor leave b past the bound
	if v, ok := c.Get("a"); !ok || v != "3" {
		t.Errorf("a = %q, %v after it was added again", v, ok)
	}
	if len(c.items) > 2 {
		t.Errorf("%d keys kept, bound 2", len(c.items))
	}
	c.DeleteFunc(func(k, v string) bool { return v == "4" || k == "nothing" })
	if _, ok := c.Get("c"); ok {
		t.Error("DeleteFunc kept an entry it matched")
	}
	if _, ok := c.Get("a"); !ok {
		t.Error("DeleteFunc dropped an entry it did not match")
	}
}
