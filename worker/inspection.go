package main

import (
	"fmt"
	"log/slog"

	"github.com/ferrydata/ferry/internal/clamd"
	"github.com/ferrydata/ferry/internal/config"
	"github.com/ferrydata/ferry/internal/pgp"
)

// scanner is the clamd client of scanner.clamd; nil when none is set
// (config.Validate refuses partners that scan without one).
func scanner(cfg *config.Config) (*clamd.Client, error) {
	if cfg.Scanner.Clamd == "" {
		return nil, nil
	}
	c, err := clamd.New(cfg.Scanner.Clamd, cfg.Scanner.Timeout)
	if err != nil {
		return nil, fmt.Errorf("scanner.clamd: %w", err)
	}
	return c, nil
}

// keyrings reads the PGP keys of every partner whose uploads are
// decrypted. A key that cannot be read or unlocked stops the worker at
// start, naming the partner, rather than at its first file.
func keyrings(cfg *config.Config, log *slog.Logger) (map[string]*pgp.Keyring, error) {
	rings := map[string]*pgp.Keyring{}
	for _, name := range cfg.PartnerNames() {
		p := cfg.Partners[name]
		if p.Decrypt != config.DecryptPGP {
			continue
		}
		pass, err := p.PGP.Passphrase()
		if err != nil {
			return nil, fmt.Errorf("partners.%s.pgp: %w", name, err)
		}
		kr, err := pgp.LoadKeyring(p.PGP.PrivateKeyFile, pass, p.PGP.SignerKeyFiles...)
		if err != nil {
			return nil, fmt.Errorf("partners.%s.pgp: %w", name, err)
		}
		rings[name] = kr
		log.Info("PGP decryption on", "partner", name, "recipient_keys", kr.RecipientFingerprints(), "signer_keys", kr.SignerFingerprints(),
			"require_signature", p.PGP.RequireSignature, "required", p.PGP.Required)
	}
	return rings, nil
}
