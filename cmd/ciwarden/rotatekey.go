package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/ciwarden/ciwarden/internal/blob"
	"github.com/ciwarden/ciwarden/internal/rekey"
	"github.com/ciwarden/ciwarden/internal/secretbox"
	"github.com/ciwarden/ciwarden/internal/server"
)

const rotateSynopsis = "ciwarden admin rotate-key [--new] [--data-dir DIR] [--database-url URL]"

// rotateKey is `ciwarden admin rotate-key`: every value sealed at rest is
// re-sealed with the current instance key, so that the old one can go
// (README, "Encryption at rest"). With CIWARDEN_INSTANCE_KEY the keys are
// the environment's (the old ones in CIWARDEN_INSTANCE_KEY_OLD); without
// it, those of <data-dir>/instance.key, which --new first gives a new
// current key and which keeps only the current key once every value is
// re-sealed.
func rotateKey(args []string, stdout io.Writer) error {
	var cfg server.Config
	var newKey bool
	c := newCommand("admin rotate-key", rotateSynopsis,
		"Re-encrypts every value sealed with the instance key (CI/CD variables, trace states, built-in runner tokens, pipelines' and schedules' variables, job specs, registry signing keys, Terraform state versions) under the current key, and seals those an older version kept in clear. "+
			"Terraform states are read from CIWARDEN_S3_* when set (as serve reads them), else from <data-dir>/blobs. "+
			"With CIWARDEN_INSTANCE_KEY set, the keys come from it and CIWARDEN_INSTANCE_KEY_OLD; otherwise from <data-dir>/instance.key, "+
			"to which --new first adds a new current key (stop the server first: it reads the key file when it starts).")
	storageFlags(c, &cfg)
	c.fs.BoolVar(&newKey, "new", false, "")
	c.row("new", "", "", "false", "key file only: make a new key the current one first")
	if err := c.parse(args, stdout); err != nil {
		return err
	}
	cfg.ReplicaName = "admin"
	cfg.InstanceKey = os.Getenv("CIWARDEN_INSTANCE_KEY")
	cfg.InstanceKeyOld = os.Getenv("CIWARDEN_INSTANCE_KEY_OLD")
	if err := cfg.Normalize(); err != nil {
		return err
	}
	keyFile := cfg.InstanceKey == ""
	if newKey {
		if !keyFile {
			return errors.New("admin rotate-key: --new is for a key file; with CIWARDEN_INSTANCE_KEY, make a key (openssl rand -base64 32) and follow the README's rotation steps")
		}
		keys, err := secretbox.ReadKeyFile(server.InstanceKeyPath(cfg))
		if err != nil {
			return err
		}
		if err := secretbox.WriteKeyFile(server.InstanceKeyPath(cfg), append([][]byte{secretbox.NewKey()}, keys...)); err != nil {
			return err
		}
	}
	keys, err := server.InstanceKeys(cfg)
	if err != nil {
		return err
	}
	box, err := secretbox.New(keys[0], keys[1:]...)
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	st.SetBox(box)
	// The sealed blobs (Terraform state versions) are where the server
	// keeps them: CIWARDEN_S3_* as serve reads them, else <data-dir>/blobs.
	if cfg.S3, err = blob.S3ConfigFromEnv(os.Getenv); err != nil {
		return err
	}
	blobs, err := server.OpenBlobs(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return err
	}
	r, err := rekey.Rotate(ctx, st, box, blobs)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-sealed %d values with the current key; %d were sealed with it already\n", r.Resealed, r.Current)
	if r.Cleared > 0 {
		fmt.Fprintf(stdout, "sealed %d values that an older version kept in clear\n", r.Cleared)
	}
	if keyFile && len(keys) > 1 {
		// Every value opens with the current key alone now.
		file, err := secretbox.ReadKeyFile(server.InstanceKeyPath(cfg))
		if err != nil {
			return err
		}
		if err := secretbox.WriteKeyFile(server.InstanceKeyPath(cfg), file[:1]); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "the key file keeps the current key only")
	} else if !keyFile && cfg.InstanceKeyOld != "" {
		fmt.Fprintln(stdout, "every replica may now drop CIWARDEN_INSTANCE_KEY_OLD")
	}
	return nil
}
