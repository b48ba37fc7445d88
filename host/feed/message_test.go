package feed

import (
	"crypto/ed25519"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

func TestSignMessage(t *testing.T) {
	_, secret, _ := ed25519.GenerateKey(nil)
	f, err := Create(t.Context(), memory.New(), secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := f.SignMessage("purpose", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	other := sdk.FeedKey{1}
	tests := []struct {
		name    string
		key     sdk.FeedKey
		context string
		msg     string
		sig     []byte
		want    bool
	}{
		{"genuine", f.Key(), "purpose", "hello", sig, true},
		{"other message", f.Key(), "purpose", "hellO", sig, false},
		{"other purpose", f.Key(), "purpose2", "hello", sig, false},
		{"purpose and message shifted", f.Key(), "purpos", "ehello", sig, false},
		{"other key", other, "purpose", "hello", sig, false},
		{"truncated signature", f.Key(), "purpose", "hello", sig[:10], false},
	}
	for _, tt := range tests {
		if got := VerifyMessage(tt.key, tt.context, []byte(tt.msg), tt.sig); got != tt.want {
			t.Errorf("%s: VerifyMessage = %v, want %v", tt.name, got, tt.want)
		}
	}
	r, err := CreateReader(t.Context(), memory.New(), f.Key())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SignMessage("purpose", nil); err != ErrReadOnly {
		t.Errorf("a reader signed: %v", err)
	}
}
