// Package configdoc renders the table of every config key, its
// environment variable and its default, from the sections the programs
// actually register, so docs/configuration.md cannot drift from the code.
package configdoc

import (
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/config"
)

// Row is one leaf key.
type Row struct {
	Key, Env, Default, Type string
}

// Rows lists the leaves of the sections, defaults applied, sorted by key.
func Rows(sections []config.Section) []Row {
	var rows []Row
	seen := map[string]bool{}
	for _, s := range sections {
		if seen[s.Key] {
			continue
		}
		seen[s.Key] = true
		v := reflect.New(s.Type)
		if d, ok := v.Interface().(interface{ SetDefaults() }); ok {
			d.SetDefaults()
		}
		walk(&rows, s.Key, v.Elem())
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Key < rows[j].Key })
	return rows
}

func walk(rows *[]Row, path string, v reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		key := name
		if path != "" {
			key = path + "." + name
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Time{}) {
			walk(rows, key, fv)
			continue
		}
		*rows = append(*rows, Row{
			Key:     key,
			Env:     config.EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_")),
			Default: show(fv),
			Type:    kind(fv.Type()),
		})
	}
}

func show(v reflect.Value) string {
	switch {
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return "—"
		}
		return show(v.Elem())
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d := time.Duration(v.Int())
		if d == 0 {
			return "0"
		}
		return d.String()
	case v.Kind() == reflect.String:
		if v.String() == "" {
			return `""`
		}
		return "`" + v.String() + "`"
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return "[]"
		}
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return "`" + strings.Join(parts, ",") + "`"
	}
	return fmt.Sprint(v.Interface())
}

func kind(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	case t.Kind() == reflect.Pointer:
		return kind(t.Elem())
	case t.Kind() == reflect.Slice:
		return "list of " + kind(t.Elem())
	}
	return t.Kind().String()
}

// Markdown writes the rows as a table.
func Markdown(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| key | environment variable | type | default |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| `%s` | `%s` | %s | %s |\n", r.Key, r.Env, r.Type, r.Default)
	}
}
