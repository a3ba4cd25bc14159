package user_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tipbox/tipbox/modules/user"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := user.User{Username: "ayse", Email: "ayse@example.com", DisplayName: "Ayşe 🎯", Bio: "line one\nline two"}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid user: %v", err)
	}
	for _, tc := range []struct {
		name  string
		edit  func(*user.User)
		field string
	}{
		{"NUL in displayName", func(u *user.User) { u.DisplayName = "a\x00b" }, "displayName"},
		{"ESC in displayName", func(u *user.User) { u.DisplayName = "a\x1b[31mred" }, "displayName"},
		{"newline in displayName", func(u *user.User) { u.DisplayName = "a\nb" }, "displayName"},
		{"RLO in displayName", func(u *user.User) { u.DisplayName = "abc\u202Egpj.exe" }, "displayName"},
		{"isolate in displayName", func(u *user.User) { u.DisplayName = "a\u2066b\u2069" }, "displayName"},
		{"NUL in bio", func(u *user.User) { u.Bio = "a\x00" }, "bio"},
		{"ESC in bio", func(u *user.User) { u.Bio = "\x1b]0;title\x07" }, "bio"},
		{"RLO in bio", func(u *user.User) { u.Bio = "\u202E" }, "bio"},
		{"LRM in bio", func(u *user.User) { u.Bio = "a\u200Eb" }, "bio"},
		{"C1 control in bio", func(u *user.User) { u.Bio = "a\u0085b" }, "bio"},
		{"IP literal email", func(u *user.User) { u.Email = "a@[127.0.0.1]" }, "email"},
		{"IPv6 literal email", func(u *user.User) { u.Email = "a@[IPv6:::1]" }, "email"},
		{"numeric domain email", func(u *user.User) { u.Email = "a@127.0.0.1" }, "email"},
		{"quoted local part", func(u *user.User) { u.Email = `"a b"@example.com` }, "email"},
		{"label with underscore", func(u *user.User) { u.Email = "a@ex_ample.com" }, "email"},
		{"label starting with hyphen", func(u *user.User) { u.Email = "a@-example.com" }, "email"},
		{"empty label", func(u *user.User) { u.Email = "a@example..com" }, "email"},
	} {
		u := ok
		tc.edit(&u)
		err := u.Validate()
		var fe *user.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%s: %v, want an error on %s", tc.name, err, tc.field)
		}
		if err != nil && strings.ContainsAny(err.Error(), "\x00\x1b\u202E") {
			t.Errorf("%s: the error repeats the bad input: %q", tc.name, err)
		}
	}
	for _, e := range []string{"a.b+tag@sub.example.co.uk", "x@xn--bcher-kva.example", "ö@müller.de"} {
		u := ok
		u.Email = e
		if err := u.Validate(); err != nil {
			t.Errorf("%s: %v", e, err)
		}
	}
}
