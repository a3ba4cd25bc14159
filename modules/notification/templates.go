package notification

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"path"
	"strings"
	texttemplate "text/template"
	"time"
)

// TemplatesFS holds the email templates: templates/email/TYPE.LANG.txt
// (which defines "subject") and TYPE.LANG.html, one pair per type and
// language.
//
//go:embed templates/email/*
var TemplatesFS embed.FS

// FallbackLanguage is the language every type must have templates in.
const FallbackLanguage = "en"

// Templates renders notification emails in the user's language.
type Templates struct {
	text map[string]*texttemplate.Template // by "TYPE.lang"
	html map[string]*htmltemplate.Template
}

// EmailData is what the templates see.
type EmailData struct {
	// Name is the recipient's display name (else username).
	Name string
	Type string
	// Data holds the event's fields (e.g. badgeName, badgeIcon).
	Data           map[string]any
	CreatedAt      time.Time
	UnsubscribeURL string
}

// LoadTemplates parses every template of fsys's templates/email.
func LoadTemplates(fsys fs.FS) (*Templates, error) {
	t := &Templates{text: map[string]*texttemplate.Template{}, html: map[string]*htmltemplate.Template{}}
	entries, err := fs.ReadDir(fsys, "templates/email")
	if err != nil {
		return nil, fmt.Errorf("notification: email templates: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		file := path.Join("templates/email", name)
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		key, ext, _ := strings.Cut(name, ".")
		lang, ext, ok := strings.Cut(ext, ".")
		if !ok {
			return nil, fmt.Errorf("notification: email template %s is not named TYPE.LANG.txt or TYPE.LANG.html", file)
		}
		key += "." + lang
		switch ext {
		case "txt":
			tt, err := texttemplate.New(name).Option("missingkey=zero").Parse(string(b))
			if err != nil {
				return nil, fmt.Errorf("notification: %s: %w", file, err)
			}
			if tt.Lookup("subject") == nil {
				return nil, fmt.Errorf("notification: %s does not define \"subject\"", file)
			}
			t.text[key] = tt
		case "html":
			ht, err := htmltemplate.New(name).Option("missingkey=zero").Parse(string(b))
			if err != nil {
				return nil, fmt.Errorf("notification: %s: %w", file, err)
			}
			t.html[key] = ht
		default:
			return nil, fmt.Errorf("notification: email template %s: unknown extension %q", file, ext)
		}
	}
	return t, nil
}

// Check fails unless every type has both templates in FallbackLanguage
// and every language that has one template has both.
func (t *Templates) Check(types []string) error {
	for _, typ := range types {
		key := typ + "." + FallbackLanguage
		if t.text[key] == nil || t.html[key] == nil {
			return fmt.Errorf("notification: type %s has no email templates %s.txt and %s.html", typ, key, key)
		}
	}
	for k := range t.text {
		if t.html[k] == nil {
			return fmt.Errorf("notification: email template %s.txt has no %s.html", k, k)
		}
	}
	for k := range t.html {
		if t.text[k] == nil {
			return fmt.Errorf("notification: email template %s.html has no %s.txt", k, k)
		}
	}
	return nil
}

// Language returns the language typ is rendered in for lang: lang itself,
// its base language (pt for pt-BR), or FallbackLanguage; "" when typ has
// no templates at all.
func (t *Templates) Language(typ, lang string) string {
	base, _, _ := strings.Cut(lang, "-")
	for _, l := range []string{lang, strings.ToLower(base), FallbackLanguage} {
		if t.text[typ+"."+l] != nil {
			return l
		}
	}
	return ""
}

// Render returns the subject and both bodies of typ in lang (with
// fallback), and the language used.
func (t *Templates) Render(typ, lang string, d EmailData) (subject, text, html, used string, err error) {
	used = t.Language(typ, lang)
	if used == "" {
		return "", "", "", "", fmt.Errorf("notification: no email template for type %s", typ)
	}
	key := typ + "." + used
	var sb, tb, hb bytes.Buffer
	if err := t.text[key].ExecuteTemplate(&sb, "subject", d); err != nil {
		return "", "", "", "", fmt.Errorf("notification: subject %s: %w", key, err)
	}
	if err := t.text[key].Execute(&tb, d); err != nil {
		return "", "", "", "", fmt.Errorf("notification: %s.txt: %w", key, err)
	}
	if err := t.html[key].Execute(&hb, d); err != nil {
		return "", "", "", "", fmt.Errorf("notification: %s.html: %w", key, err)
	}
	return strings.TrimSpace(sb.String()), tb.String(), hb.String(), used, nil
}
