package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// ErrInvalid wraps every error about the content of a profile or of the
// environment, so callers can tell a bad configuration from an I/O failure.
var ErrInvalid = errors.New("invalid configuration")

// InvalidError returns a sentinel error of another package that also
// matches ErrInvalid (errors.Is), for errors about configuration found
// outside Decode: an unknown driver name, a refused secret. Its message is
// msg alone.
func InvalidError(msg string) error { return invalidError(msg) }

type invalidError string

func (e invalidError) Error() string        { return string(e) }
func (e invalidError) Is(target error) bool { return target == ErrInvalid }

// EnvPrefix starts every environment override.
const EnvPrefix = "TIPBOX_"

// Environment variables that are not config keys but are read by the
// programs or the tests themselves.
var reservedEnv = map[string]bool{"TIPBOX_CONFIG": true}

// Source is a loaded profile plus the environment that overrides it.
type Source struct {
	name string // the profile's file name, for messages

	mu   sync.Mutex
	root *yaml.Node // a mapping node
	env  map[string]string
}

// Parse builds a Source from a profile's bytes and an environment in
// os.Environ form. name only appears in error messages.
func Parse(name string, data []byte, environ []string) (*Source, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config: %s: %w: %v", name, ErrInvalid, err)
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config: %s: %w: the document must be a mapping of sections", name, ErrInvalid)
	}
	env := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			env[k] = v
		}
	}
	s := &Source{name: name, root: root, env: env}
	s.applyAliases()
	return s, nil
}

// Configured reports whether the profile sets anything under key (a
// non-empty value there) or a non-empty TIPBOX_ variable names a key under
// it. REDIS_URL counts for "redis": aliases are applied to the profile.
// Packages use it to tell "the operator configured Redis" from the
// defaults a section fills in.
func (s *Source) Configured(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := lookup(s.root, splitKey(key)); n != nil && !isEmpty(n) && !(n.Kind == yaml.MappingNode && len(n.Content) == 0) {
		return true
	}
	prefix := EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")) + "_"
	for k, v := range s.env {
		if strings.HasPrefix(k, prefix) && v != "" {
			return true
		}
	}
	return false
}

// Name is the name of the profile the Source was loaded from.
func (s *Source) Name() string { return s.name }

// applyAliases maps the Node service's variables onto keys. A TIPBOX_
// variable for the same key wins because it is applied later, at decode time.
func (s *Source) applyAliases() {
	if v := s.env["REDIS_URL"]; v != "" {
		setScalar(s.root, []string{"redis", "url"}, v)
	}
	if v := s.env["DATABASE_URL"]; v != "" {
		setScalar(s.root, []string{"database", "dsn"}, v)
		setScalar(s.root, []string{"database", "driver"}, "postgres")
	}
}

// Decode fills dst (a pointer to a struct) from the section at key, with the
// environment's overrides, then calls SetDefaults and Validate if dst has
// them. Unknown keys are not reported here (other sections may nest inside
// this one); Check reports them.
func (s *Source) Decode(key string, dst any) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: Decode(%q) needs a pointer to a struct, got %T", key, dst)
	}
	s.mu.Lock()
	s.applyEnv(key, rv.Elem().Type())
	node := lookup(s.root, splitKey(key))
	s.mu.Unlock()

	if node != nil {
		if err := decodeStruct(node, rv.Elem(), key, nil, false); err != nil {
			return err
		}
	}
	// Defaults only after decoding: a default may depend on a decoded value
	// (log.format on env), and a key present but empty keeps its default.
	if d, ok := dst.(interface{ SetDefaults() }); ok {
		d.SetDefaults()
	}
	if v, ok := dst.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("config: %w: %s", ErrInvalid, qualify(key, err))
		}
	}
	return nil
}

// qualify prefixes a Validate error with the section's key, so
// "driver: ..." from section "cache" reads "cache.driver: ...".
func qualify(key string, err error) string {
	if key == "" {
		return err.Error()
	}
	return key + "." + err.Error()
}

// Section names a registered config section and its struct type.
type Section struct {
	Key  string
	Type reflect.Type
}

// Check validates the whole profile against the registered sections: every
// key must belong to one, every value must decode into its field, every
// section must pass its own Validate, and every TIPBOX_ variable must name a
// key. It returns all problems found, one per line.
func (s *Source) Check(sections []Section) error {
	owners := map[string]reflect.Type{}
	for _, sec := range sections {
		owners[sec.Key] = sec.Type
	}
	var problems []string
	// Decode every section (applies env, defaults, validation).
	for _, sec := range sections {
		v := reflect.New(sec.Type)
		if err := s.Decode(sec.Key, v.Interface()); err != nil {
			problems = append(problems, strings.TrimPrefix(strings.TrimPrefix(err.Error(), "config: "), ErrInvalid.Error()+": "))
		}
	}
	// Walk the tree for keys nobody owns.
	s.mu.Lock()
	rootType, ok := owners[""]
	if !ok {
		rootType = reflect.TypeOf(struct{}{})
	}
	walkUnknown(s.root, rootType, "", owners, &problems)
	known := map[string]bool{}
	for _, sec := range sections {
		for _, e := range envNames(sec.Key, sec.Type) {
			known[e.name] = true
		}
	}
	var unknownEnv []string
	for k := range s.env {
		if strings.HasPrefix(k, EnvPrefix) && !reservedEnv[k] && !strings.HasPrefix(k, EnvPrefix+"TEST_") && !known[k] {
			unknownEnv = append(unknownEnv, k)
		}
	}
	s.mu.Unlock()
	sort.Strings(unknownEnv)
	for _, k := range unknownEnv {
		problems = append(problems, fmt.Sprintf("environment variable %s does not name a config key", k))
	}
	if len(problems) == 0 {
		return nil
	}
	sort.Strings(problems)
	return fmt.Errorf("config: %s: %w:\n  %s", s.name, ErrInvalid, strings.Join(dedupe(problems), "\n  "))
}

func dedupe(in []string) []string {
	out := in[:0]
	for i, p := range in {
		if i == 0 || p != in[i-1] {
			out = append(out, p)
		}
	}
	return out
}

// ReadFile loads a profile from disk.
func ReadFile(path string, environ []string) (*Source, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read profile: %w", err)
	}
	return Parse(path, data, environ)
}
