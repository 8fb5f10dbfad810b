package broker

import (
	"fmt"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/crisisbus/crisisbus/broker/rights"
)

// withAccounts puts users in the identities' account (rights.UsersAccount),
// which has no JetStream. The store stays in the server's global account,
// where it has always been: its directory (jetstream/$G) and the keys its
// files are encrypted with are named after that account, so a store made
// before keeps opening. openStore gives the identities' account the store.
func withAccounts(opts *server.Options, users []*server.User) {
	acc := server.NewAccount(rights.UsersAccount)
	for _, u := range users {
		u.Account = acc
	}
	opts.Accounts = []*server.Account{acc}
	opts.Users = users
}

// openStore runs JetStream in the global account and exports to the
// identities' account what rights.Imports lists, and only that.
func openStore(srv *server.Server) error {
	if err := enableStore(srv); err != nil {
		return err
	}
	store := srv.GlobalAccount()
	users, err := srv.LookupAccount(rights.UsersAccount)
	if err != nil {
		return fmt.Errorf("the identities' account: %w", err)
	}
	if users.JetStreamEnabled() {
		return fmt.Errorf("the identities' account %s has JetStream of its own", rights.UsersAccount)
	}
	for _, im := range rights.Imports() {
		if im.Stream {
			if err := store.AddStreamExport(im.Subject, []*server.Account{users}); err != nil {
				return fmt.Errorf("export %s: %w", im.Subject, err)
			}
			if err := users.AddStreamImport(store, im.Subject, ""); err != nil {
				return fmt.Errorf("import %s: %w", im.Subject, err)
			}
			continue
		}
		rt := server.Singleton
		if im.Streamed {
			rt = server.Streamed
		}
		if err := store.AddServiceExportWithResponse(im.Subject, rt, []*server.Account{users}); err != nil {
			return fmt.Errorf("export %s: %w", im.Subject, err)
		}
		if err := users.AddServiceImport(store, im.As, im.Subject); err != nil {
			return fmt.Errorf("import %s as %s: %w", im.Subject, im.As, err)
		}
	}
	return nil
}

// enableStore runs JetStream in the global account if it does not run
// there: with accounts configured the server does not by itself, and after
// JetStream restarts in the running server (space.go) it may not. The
// exports stay with the account.
func enableStore(srv *server.Server) error {
	store := srv.GlobalAccount()
	if store.JetStreamEnabled() {
		return nil
	}
	limits := map[string]server.JetStreamAccountLimits{"": {MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1}}
	if err := store.EnableJetStream(limits, nil); err != nil {
		return fmt.Errorf("enable JetStream in the store's account: %w", err)
	}
	return nil
}
