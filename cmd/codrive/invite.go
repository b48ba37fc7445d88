package main

import (
	"fmt"

	"github.com/codrive/codrive/auth/invite"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// inviteCode prints the invite code of a co-drive under the secret a
// daemon's --auth invite:FILE reads, for its owner to hand out; a peer
// then asks with request-auth KEY --invite CODE.
func inviteCode(e *env, args []string) error {
	var secretFile string
	fs := flags(e, "invite-code", nil)
	fs.StringVar(&secretFile, "secret-file", "", "the file holding the invite policy's secret (required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || secretFile == "" {
		return fmt.Errorf("%w: want KEY and --secret-file FILE", errUsage)
	}
	key, err := sdk.ParseFeedKey(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	secret, err := invite.Secret(plugin.Config{"secret-file": secretFile})
	if err != nil {
		return err
	}
	if len(secret) < invite.MinSecretSize {
		return fmt.Errorf("the secret in %s is %d bytes; the invite policy needs at least %d", secretFile, len(secret), invite.MinSecretSize)
	}
	fmt.Fprintln(e.stdout, invite.Code(secret, key))
	return nil
}
