package user

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tipbox/tipbox/core/database"
)

// SQLStore is the Store on a database.DB (SQLite or PostgreSQL; the SQL is
// the same for both). Safe for concurrent use.
//
// Usernames and emails are unique regardless of case: the store keeps their
// lower-cased forms in username_key and email_key, which carry the unique
// constraints, and returns them as given. Times are microseconds since the
// epoch in the database and UTC time.Time values truncated to microseconds
// here, so a stored user reads back equal.
type SQLStore struct {
	db *database.DB
}

var _ Store = (*SQLStore)(nil)

// NewSQLStore returns a store on db, whose schema the "user" migrations
// (modules/user/migrations) must have created.
func NewSQLStore(db *database.DB) *SQLStore { return &SQLStore{db: db} }

const userColumns = `id, username, email, display_name, bio, created_at, updated_at`

// Create implements Store.
func (s *SQLStore) Create(ctx context.Context, u User) (User, error) {
	if u.Username == "" || u.Email == "" {
		return User{}, fmt.Errorf("%w: username and email are required", ErrInvalid)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	u.CreatedAt, u.UpdatedAt = now, now
	err := s.db.QueryRowContext(ctx, `INSERT INTO users
		(username, username_key, email, email_key, display_name, bio, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING id`,
		u.Username, key(u.Username), u.Email, key(u.Email), u.DisplayName, u.Bio, now.UnixMicro(),
	).Scan(&u.ID)
	if err != nil {
		return User{}, s.mapErr("create", err)
	}
	return u, nil
}

// Get implements Store.
func (s *SQLStore) Get(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return User{}, s.mapErr("get", err)
	}
	return u, nil
}

// Update implements Store. The row is locked from the read to the write
// (SELECT ... FOR UPDATE on postgres; the write lock taken at BEGIN on
// sqlite), so concurrent updates of one user apply one after the other and
// none is lost. fn must not keep the *User. Changes fn makes to ID and
// CreatedAt are ignored.
func (s *SQLStore) Update(ctx context.Context, id int64, fn func(*User) error) (User, error) {
	var out User
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		old, err := scanUser(tx.QueryRowContext(ctx,
			`SELECT `+userColumns+` FROM users WHERE id = $1`+s.db.Dialect.ForUpdate(), id))
		if err != nil {
			return s.mapErr("update", err)
		}
		u := old
		if err := fn(&u); err != nil {
			return err
		}
		u.ID, u.CreatedAt = old.ID, old.CreatedAt
		if u.Username == "" || u.Email == "" {
			return fmt.Errorf("%w: username and email are required", ErrInvalid)
		}
		// Strictly after the previous value, so that "updated later" holds
		// even for two updates within one microsecond or a clock step back.
		u.UpdatedAt = time.Now().UTC().Truncate(time.Microsecond)
		if !u.UpdatedAt.After(old.UpdatedAt) {
			u.UpdatedAt = old.UpdatedAt.Add(time.Microsecond)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET
			username = $2, username_key = $3, email = $4, email_key = $5,
			display_name = $6, bio = $7, updated_at = $8 WHERE id = $1`,
			id, u.Username, key(u.Username), u.Email, key(u.Email), u.DisplayName, u.Bio, u.UpdatedAt.UnixMicro(),
		); err != nil {
			return s.mapErr("update", err)
		}
		out = u
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return out, nil
}

// RecentlyActive implements Store.
func (s *SQLStore) RecentlyActive(ctx context.Context, n int) ([]int64, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM users ORDER BY updated_at DESC, id DESC LIMIT $1`, n)
	if err != nil {
		return nil, s.mapErr("recently active", err)
	}
	defer rows.Close()
	ids := make([]int64, 0, n)
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, s.mapErr("recently active", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr("recently active", err)
	}
	return ids, nil
}

// key is the case-insensitive form of a username or email.
func key(s string) string { return strings.ToLower(s) }

func scanUser(row *sql.Row) (User, error) {
	var u User
	var created, updated int64
	if err := row.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &u.Bio, &created, &updated); err != nil {
		return User{}, err
	}
	u.CreatedAt = time.UnixMicro(created).UTC()
	u.UpdatedAt = time.UnixMicro(updated).UTC()
	return u, nil
}

// mapErr turns database errors into the package's sentinels; anything else
// is wrapped with the operation.
func (s *SQLStore) mapErr(op string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if constraint, ok := s.db.Dialect.IsUniqueViolation(err); ok {
		switch {
		case strings.Contains(constraint, "username"):
			return ErrDuplicateUsername
		case strings.Contains(constraint, "email"):
			return ErrDuplicateEmail
		}
	}
	return fmt.Errorf("user: %s: %w", op, err)
}
