package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

var durationType = reflect.TypeOf(time.Duration(0))

func splitKey(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, ".")
}

func joinKey(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// fieldName is the YAML key of a struct field, or "" when it has none.
func fieldName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	tag := f.Tag.Get("yaml")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	if name == "" {
		return strings.ToLower(f.Name)
	}
	return name
}

// isSection reports whether t is decoded key by key (a nested struct) rather
// than as one value.
func isSection(t reflect.Type) bool {
	return t.Kind() == reflect.Struct && t != reflect.TypeOf(time.Time{})
}

func lookup(n *yaml.Node, path []string) *yaml.Node {
	for _, p := range path {
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == p {
				next = n.Content[i+1]
			}
		}
		n = next
	}
	return n
}

// setScalar sets the value at path, creating mappings on the way. The
// scalar carries no tag, so it resolves against the field it lands in.
func setScalar(n *yaml.Node, path []string, value string) {
	setNode(n, path, &yaml.Node{Kind: yaml.ScalarNode, Value: value})
}

func setNode(n *yaml.Node, path []string, value *yaml.Node) {
	for i, p := range path {
		if n.Kind != yaml.MappingNode {
			if !isEmpty(n) {
				// A list or a value where a section should be: the
				// profile is wrong, and decoding must say so rather than
				// let an override hide it.
				return
			}
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		}
		var child *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == p {
				child = n.Content[j+1]
			}
		}
		last := i == len(path)-1
		if child == nil {
			child = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p}, child)
		}
		if last {
			*child = *value
			return
		}
		n = child
	}
}

// isEmpty reports whether n is a null or empty scalar (`cache:` with nothing
// after it).
func isEmpty(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || n.Value == "" && n.Tag == "")
}

type envVar struct {
	name string
	path []string // full key path
	typ  reflect.Type
}

// envNames lists the environment variables that override the leaves of a
// section of type t at key.
func envNames(key string, t reflect.Type) []envVar {
	var out []envVar
	var walk func(path []string, t reflect.Type)
	walk = func(path []string, t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := fieldName(f)
			if name == "" {
				continue
			}
			p := append(append([]string{}, path...), name)
			if isSection(f.Type) {
				walk(p, f.Type)
				continue
			}
			env := EnvPrefix + strings.ToUpper(strings.Join(p, "_"))
			out = append(out, envVar{name: env, path: p, typ: f.Type})
		}
	}
	walk(splitKey(key), t)
	return out
}

// applyEnv writes the environment's overrides for a section into the tree.
// Lists are comma separated. Callers hold s.mu.
func (s *Source) applyEnv(key string, t reflect.Type) {
	for _, e := range envNames(key, t) {
		v, ok := s.env[e.name]
		if !ok {
			continue
		}
		if e.typ.Kind() == reflect.Slice && e.typ.Elem().Kind() != reflect.Uint8 {
			seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					seq.Content = append(seq.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: part})
				}
			}
			setNode(s.root, e.path, seq)
			continue
		}
		setScalar(s.root, e.path, v)
	}
}

// decodeStruct decodes a mapping node into a struct field by field, so that
// an error names the exact key. With strict set, keys that match no field
// (and are not registered sections, per owners) are errors.
func decodeStruct(n *yaml.Node, v reflect.Value, path string, owners map[string]reflect.Type, strict bool) error {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("config: %w: %s: want a mapping of keys, got %s", ErrInvalid, pathOrRoot(path), describe(n))
	}
	t := v.Type()
	fields := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		if name := fieldName(t.Field(i)); name != "" {
			fields[name] = i
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, child := n.Content[i].Value, n.Content[i+1]
		full := joinKey(path, k)
		idx, ok := fields[k]
		if !ok {
			continue
		}
		fv := v.Field(idx)
		if isSection(fv.Type()) {
			if err := decodeStruct(child, fv, full, owners, strict); err != nil {
				return err
			}
			continue
		}
		if err := decodeLeaf(child, fv, full); err != nil {
			return err
		}
	}
	return nil
}

func decodeLeaf(n *yaml.Node, fv reflect.Value, full string) error {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!null" || (n.Tag == "" && n.Value == "")) && fv.Kind() != reflect.String {
		return nil
	}
	tmp := reflect.New(fv.Type())
	if err := n.Decode(tmp.Interface()); err != nil {
		return fmt.Errorf("config: %w: %s: cannot use %s: want %s", ErrInvalid, full, describe(n), typeName(fv.Type()))
	}
	fv.Set(tmp.Elem())
	return nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.SequenceNode:
		return "a list"
	case yaml.MappingNode:
		return "a mapping"
	}
	return "this value"
}

func typeName(t reflect.Type) string {
	switch {
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case t == durationType:
		return "a duration such as 500ms, 2s or 1h"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64, t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uint64:
		return "a whole number"
	case t.Kind() == reflect.Float32 || t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(typeName(t.Elem()), "a ")
	case t.Kind() == reflect.Map:
		return "a mapping"
	}
	return t.String()
}

func pathOrRoot(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

// walkUnknown reports keys under n that no section owns. t is the struct of
// the section n belongs to (at path).
func walkUnknown(n *yaml.Node, t reflect.Type, path string, owners map[string]reflect.Type, problems *[]string) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	fields := map[string]reflect.Type{}
	var allowed []string
	for i := 0; i < t.NumField(); i++ {
		if name := fieldName(t.Field(i)); name != "" {
			fields[name] = t.Field(i).Type
			allowed = append(allowed, name)
		}
	}
	for k := range owners {
		parent, last := "", k
		if i := strings.LastIndex(k, "."); i >= 0 {
			parent, last = k[:i], k[i+1:]
		}
		if k != "" && parent == path {
			allowed = append(allowed, last)
		}
	}
	sort.Strings(allowed)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, child := n.Content[i].Value, n.Content[i+1]
		full := joinKey(path, k)
		if ot, ok := owners[full]; ok {
			walkUnknown(child, ot, full, owners, problems)
			continue
		}
		ft, ok := fields[k]
		if !ok {
			msg := fmt.Sprintf("unknown key %s", full)
			if len(allowed) > 0 {
				msg += fmt.Sprintf(" (allowed under %s: %s)", pathOrRoot(path), strings.Join(allowed, ", "))
			}
			*problems = append(*problems, msg)
			continue
		}
		if isSection(ft) {
			walkUnknown(child, ft, full, owners, problems)
		}
	}
}
