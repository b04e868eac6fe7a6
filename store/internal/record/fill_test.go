package record

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// fill sets every field reachable from v, however deep, to a value of its
// own (n counts them): strings, numbers and times all differ, slices hold
// two elements, pointers point at filled values. A field the codec drops
// or mixes up with another then shows in a round trip. A kind fill does
// not know fails the test, so a new field is never silently left zero.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		if v.Type() == reflect.TypeFor[time.Duration]() {
			v.SetInt(int64(*n) * int64(time.Second))
		} else {
			v.SetInt(int64(*n))
		}
	case reflect.Uint64, reflect.Uint, reflect.Uint32, reflect.Uint8:
		v.SetUint(uint64(*n))
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2025, 1, 2, 3, 4, 5, *n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				t.Fatalf("%s.%s is unexported: fill cannot set it, and the store cannot keep it", v.Type(), v.Type().Field(i).Name)
			}
			fill(t, v.Field(i), n)
		}
	default:
		t.Fatalf("fill does not know %s: teach it, and the codec, the new field", v.Type())
	}
}

// filled is a T with every field set.
func filled[T any](t *testing.T, n *int) T {
	t.Helper()
	var v T
	fill(t, reflect.ValueOf(&v).Elem(), n)
	return v
}
