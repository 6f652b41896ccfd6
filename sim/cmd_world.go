package sim

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/nexusd/nexusd/state"
)

// world nodes=N [seed=S] [clusters=A,A,B...] [keys=K,K,-...]
// [config=Field:Value,...]: a new world of N started nodes on a quiet
// network. clusters names each node's cluster in order; keys its cluster
// keyring (keys.go): a key name, several joined by + (the first signs),
// or - for none; config sets fields of every node's state.Config (whole
// numbers, durations such as 500ms, or policy names).
func cmdWorld(s *Script, a *args) (string, error) {
	n, err := a.int("nodes", 0)
	if err != nil {
		return "", err
	}
	seed := uint64(1)
	if v := a.str("seed", ""); v != "" {
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			return "", fmt.Errorf("world: seed=%q is not a whole number", v)
		}
	}
	opts := Options{Nodes: n, Seed: seed, Net: DefaultNet(), Invariants: SmallEveryStep}
	if v := a.str("clusters", ""); v != "" {
		names := strings.Split(v, ",")
		if len(names) != n {
			return "", fmt.Errorf("world: clusters= names %d clusters for %d nodes", len(names), n)
		}
		opts.Cluster = func(i int) string { return names[i] }
	}
	if v := a.str("keys", ""); v != "" {
		rings := strings.Split(v, ",")
		if len(rings) != n {
			return "", fmt.Errorf("world: keys= names %d keyrings for %d nodes", len(rings), n)
		}
		opts.Keys = func(i int) []string {
			if rings[i] == "-" {
				return nil
			}
			return strings.Split(rings[i], "+")
		}
	}
	if v := a.str("config", ""); v != "" {
		set, err := parseConfig(v)
		if err != nil {
			return "", fmt.Errorf("world: config=%q: %w", v, err)
		}
		opts.Config = func(_ int, c *state.Config) { set(c) }
	}
	w, err := New(opts)
	if err != nil {
		return "", err
	}
	w.Start()
	s.w = w
	return "ok", nil
}

// parseConfig reads Field:Value,... into a function that sets those fields
// of a state.Config; the node still validates the result.
func parseConfig(text string) (func(*state.Config), error) {
	type setting struct {
		field string
		value reflect.Value
	}
	var sets []setting
	ct := reflect.TypeFor[state.Config]()
	for _, item := range strings.Split(text, ",") {
		name, val, ok := strings.Cut(item, ":")
		f, found := ct.FieldByName(name)
		if !ok || !found || !f.IsExported() {
			return nil, fmt.Errorf("%q: want Field:Value with a field of state.Config", item)
		}
		v := reflect.New(f.Type).Elem()
		switch {
		case f.Type == reflect.TypeFor[time.Duration]():
			d, err := time.ParseDuration(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a duration", name, val)
			}
			v.SetInt(int64(d))
		case f.Type == reflect.TypeFor[state.Policy]():
			p, err := state.ParsePolicy(val)
			if err != nil {
				return nil, err
			}
			v.SetUint(uint64(p))
		case f.Type.Kind() == reflect.Int:
			n, err := strconv.Atoi(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a whole number", name, val)
			}
			v.SetInt(int64(n))
		default:
			return nil, fmt.Errorf("%s cannot be set from a scenario", name)
		}
		sets = append(sets, setting{name, v})
	}
	return func(c *state.Config) {
		cv := reflect.ValueOf(c).Elem()
		for _, s := range sets {
			cv.FieldByName(s.field).Set(s.value)
		}
	}, nil
}
