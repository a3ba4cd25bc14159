package config

import (
	"fmt"
	"reflect"

	"go.uber.org/fx"
)

// Provide registers the section at key with the application and provides
// its decoded, defaulted and validated value of type T to fx.
//
//	var Module = fx.Module("cache", config.Provide[Config]("cache"), ...)
func Provide[T any](key string) fx.Option {
	t := reflect.TypeFor[T]()
	if t.Kind() != reflect.Struct {
		panic(fmt.Sprintf("config.Provide[%s]: T must be a struct type", t))
	}
	return fx.Options(
		fx.Provide(func(s *Source) (T, error) {
			var v T
			err := s.Decode(key, &v)
			return v, err
		}),
		fx.Provide(fx.Annotate(
			func() Section { return Section{Key: key, Type: t} },
			fx.ResultTags(`group:"config.sections"`),
		)),
	)
}

// Register only declares the section at key as known, without providing
// it: a program that shares profiles with another but does not run the
// package owning the section (cmd/worker and the http section) registers
// it so the profile still passes the strict check.
func Register[T any](key string) fx.Option {
	t := reflect.TypeFor[T]()
	return fx.Provide(fx.Annotate(
		func() Section { return Section{Key: key, Type: t} },
		fx.ResultTags(`group:"config.sections"`),
	))
}

type checkParams struct {
	fx.In
	Source   *Source
	Sections []Section `group:"config.sections"`
}

// Module supplies the Source and checks the whole profile at start, before
// any lifecycle hook runs: an unknown key, a bad value or a stray TIPBOX_
// variable stops the program with every problem listed.
func Module(src *Source) fx.Option {
	return fx.Module("config",
		fx.Supply(src),
		Provide[Root](""),
		fx.Invoke(func(p checkParams) error { return p.Source.Check(p.Sections) }),
	)
}
