package relay

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/canvasrelay/canvasrelay/imageproc"
)

func TestDefaultConfigIsTheZeroConfig(t *testing.T) {
	d := DefaultConfig()
	if d.NodeID != "" {
		t.Errorf("DefaultConfig().NodeID: got %q, want empty (random per server)", d.NodeID)
	}
	z := Config{}.withDefaults()
	z.NodeID = ""
	if !reflect.DeepEqual(d, z) {
		t.Errorf("DefaultConfig() differs from Config{} with its defaults:\n got %+v\nwant %+v", d, z)
	}
	// What the field comments promise.
	if d.MaxBytes != 8<<20 || d.MaxConns != 20000 || d.MaxRooms != 10000 || d.MaxMembersPerRoom != 1000 ||
		d.FrameRate != 60 || d.ByteRate != 64<<20 || d.MaxConnsPerIP != 100 || d.QueueMaxBytes != 64<<20 {
		t.Errorf("DefaultConfig() does not match the documented defaults: %+v", d)
	}
	if err := d.Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate(): %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"zero", Config{}, true},
		{"TLS pair", Config{TLSCertFile: "c.pem", TLSKeyFile: "k.pem"}, true},
		{"TLS cert alone", Config{TLSCertFile: "c.pem"}, false},
		{"TLS key alone", Config{TLSKeyFile: "k.pem"}, false},
		{"secret of 16", Config{AuthSecret: []byte("0123456789abcdef")}, true},
		{"secret of 15", Config{AuthSecret: []byte("0123456789abcde")}, false},
		{"ingest quality 101", Config{Normalize: true, IngestOptions: imageproc.Options{Quality: 101}}, false},
		{"ingest negative width", Config{IngestOptions: imageproc.Options{MaxWidth: -1}}, false},
		{"queue under max bytes", Config{MaxBytes: 2 << 20, QueueMaxBytes: 1 << 20}, false},
		{"bad origin", Config{AllowedOrigins: []string{"https://a.example/path"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.ok && err != nil {
				t.Fatalf("got %v, want no error", err)
			}
			if !tt.ok && !errors.Is(err, ErrBadConfig) {
				t.Fatalf("got %v, want an error wrapping ErrBadConfig", err)
			}
			srv, nerr := New(tt.cfg, nil)
			if (nerr == nil) != tt.ok {
				t.Fatalf("New: got %v, want the same verdict as Validate", nerr)
			}
			if srv != nil {
				_ = srv.Shutdown(context.Background())
			}
		})
	}
}
