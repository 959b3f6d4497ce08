// Package pgtest starts a throwaway PostgreSQL from Debian's postgresql package for tests, and stops it.
package pgtest

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver
)

// Bin is where Debian installs PostgreSQL 15's server programs.
var Bin = "/usr/lib/postgresql/15/bin"

// Fsync keeps PostgreSQL's fsync on (benchmarks); tests run with fsync=off, which loses nothing unless the host crashes.
var Fsync = false

// Server is one running cluster on 127.0.0.1.
type Server struct {
	Dir  string
	Port int
	n    atomic.Int64
}

// Start runs initdb and pg_ctl start as the postgres user in a temp dir owned by postgres, on a free port.
func Start() (*Server, error) {
	if _, err := os.Stat(filepath.Join(Bin, "pg_ctl")); err != nil {
		return nil, fmt.Errorf("pgtest: %s/pg_ctl not found: install Debian's postgresql package (make deps)", Bin)
	}
	pg, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: no postgres user: install Debian's postgresql package: %w", err)
	}
	uid, _ := strconv.Atoi(pg.Uid)
	gid, _ := strconv.Atoi(pg.Gid)
	dir, err := os.MkdirTemp("", "rg-pgtest-")
	if err != nil {
		return nil, err
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, fmt.Errorf("pgtest: chown %s to postgres (run the tests as root): %w", dir, err)
	}
	s := &Server{Dir: dir}
	if out, err := s.asPostgres("initdb", "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "rg", "--no-sync"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %v: %s", err, out)
	}
	// The port is free when chosen but released before PostgreSQL binds it, so another test binary can take it in
	// between: then the postmaster exits ("could not create any TCP/IP sockets") and the next try takes another port.
	var lastErr error
	for try := 0; try < 5; try++ {
		if s.Port, err = freePort(); err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=200", s.Port, dir)
		if !Fsync {
			opts += " -c fsync=off"
		}
		logFile := filepath.Join(dir, fmt.Sprintf("log.%d", try))
		out, err := s.asPostgres("pg_ctl", "-D", filepath.Join(dir, "data"), "-o", opts, "-l", logFile, "-t", "120", "-w", "start")
		if err == nil {
			return s, nil
		}
		log, _ := os.ReadFile(logFile)
		lastErr = fmt.Errorf("pgtest: pg_ctl start on port %d: %v: %s %s", s.Port, err, out, log)
		_, _ = s.asPostgres("pg_ctl", "-D", filepath.Join(dir, "data"), "-m", "immediate", "-w", "stop") // in case it came up late
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

func (s *Server) asPostgres(prog string, args ...string) ([]byte, error) {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(Bin, prog)}, args...)...)
	cmd.Dir = s.Dir
	return cmd.CombinedOutput()
}

// Stop stops the cluster (fast shutdown) and removes its directory.
func (s *Server) Stop() error {
	out, err := s.asPostgres("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", "fast", "-w", "stop")
	_ = os.RemoveAll(s.Dir)
	if err != nil {
		return fmt.Errorf("pgtest: pg_ctl stop: %v: %s", err, out)
	}
	return nil
}

// URL is the connection URL of database db.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://rg@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDB creates an empty database for one test and returns its URL; on a nil server (see Main) it skips the test.
func (s *Server) NewDB(t testing.TB) string {
	t.Helper()
	if s == nil {
		t.Skip("PostgreSQL unavailable under -short")
	}
	name := fmt.Sprintf("t%d_%d", os.Getpid(), s.n.Add(1))
	db, err := sql.Open("pgx", s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return s.URL(name)
}

// Main starts one server for a test binary, runs m, stops the server and returns the exit code. Under -short
// (make check: no root) a server that cannot start leaves *srv nil and the PostgreSQL cases skip; otherwise it fails.
func Main(m *testing.M, srv **Server) int {
	flag.Parse()
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		if testing.Short() {
			fmt.Fprintln(os.Stderr, "pgtest: -short: the PostgreSQL cases are skipped")
			return m.Run()
		}
		return 3
	}
	*srv = s
	code := m.Run()
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	return code
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
