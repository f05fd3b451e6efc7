package relay

import (
	"slices"
	"testing"

	"github.com/canvasrelay/canvasrelay/imageproc"
	"github.com/canvasrelay/canvasrelay/relay/wire"
)

// TestContractFromWire holds the relay's defaults and format words to the
// contract written in package wire, and the in-memory broker's defaults to
// the relay's: one source each.
func TestContractFromWire(t *testing.T) {
	d := DefaultConfig()
	if d.MaxBytes != wire.DefaultMaxBytes || d.MaxPixels != wire.DefaultMaxPixels {
		t.Errorf("DefaultConfig: got MaxBytes %d, MaxPixels %d, want wire's %d, %d", d.MaxBytes, d.MaxPixels, wire.DefaultMaxBytes, wire.DefaultMaxPixels)
	}
	var formats []string
	for _, f := range d.Formats {
		formats = append(formats, string(f))
	}
	if !slices.Equal(formats, wire.DefaultFormats()) {
		t.Errorf("DefaultConfig: got formats %v, want wire's %v", formats, wire.DefaultFormats())
	}
	for _, f := range []struct {
		got  imageproc.Format
		want string
	}{{imageproc.PNG, wire.FormatPNG}, {imageproc.JPEG, wire.FormatJPEG}, {imageproc.GIF, wire.FormatGIF}, {imageproc.WebP, wire.FormatWebP}} {
		if string(f.got) != f.want {
			t.Errorf("imageproc format %q, want the contract's word %q", f.got, f.want)
		}
	}
	b := NewMemoryBroker(MemoryBrokerConfig{})
	defer b.Close()
	if b.cfg.MaxLayers != d.MaxLayers || b.cfg.MaxRetainedBytes != d.MaxRetainedBytes || b.cfg.MaxRoomBytes != d.RoomRetainedBytes || b.cfg.RetainEmptyFor != d.RetainEmptyFor {
		t.Errorf("MemoryBroker defaults %+v differ from DefaultConfig's (layers %d, bytes %d, room %d, empty %s)", b.cfg, d.MaxLayers, d.MaxRetainedBytes, d.RoomRetainedBytes, d.RetainEmptyFor)
	}
}
