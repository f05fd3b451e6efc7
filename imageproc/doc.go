// Package imageproc validates, and optionally re-encodes, the images that
// canvasrelay relays.
//
// # Validation
//
// Inspect is the gate every binary frame passes before fan-out. It checks, in
// order: emptiness, the byte limit, the magic bytes (Sniff), the format
// allow-list, the format's own DecodeConfig, the pixel limit and, for JPEG,
// the scan count (MaxJPEGScans, from a marker walk). It never decodes
// pixels, so a "pixel bomb" (a tiny file whose header claims 100000x100000)
// costs a few kilobytes to reject, and a "scan bomb" (thousands of
// progressive scans, each a pass over the whole picture) a walk of its bytes. Each failure is an *Error
// whose Code is a contract word:
//
//	invalid_image       ErrEmpty, ErrInvalid   empty input, bad header, bad dimensions, decoder panic
//	unsupported_format  ErrUnsupported         unknown magic bytes, BMP/TIFF/..., or a format not allowed
//	too_large           ErrTooLarge            more bytes than Limits.MaxBytes
//	too_many_pixels     ErrTooManyPixels       width*height above Limits.MaxPixels
//
// Code(err) returns the word for any error.
//
// # Structure
//
// CheckStructure (the relay's default --verify structure) walks the
// container without decoding pixels: PNG chunks with their CRC-32, the JPEG
// marker walk (shared with Inspect's scan count), the GIF block walk, the
// WebP RIFF chunks. It refuses truncated, corrupt and padded bodies (bytes
// after the end marker) and GIF frames outside their screen, with
// ErrInvalid naming the fault.
//
// # Decoder allow-list
//
// This package never calls image.Decode or image.DecodeConfig: those consult
// a process-wide registry, which any import may extend (disintegration/imaging
// registers BMP and TIFF, whose decoders have had panics on hostile input,
// CVE-2023-36308). Only image/png, image/jpeg, image/gif and
// golang.org/x/image/webp are ever called, chosen from the sniffed magic
// bytes, and panics inside them are recovered as ErrInvalid.
//
// # Re-encoding and renditions
//
// Verify does a full decode (for --verify full). Reencode fits a picture into
// a box, turns JPEG input upright from EXIF, strips metadata and writes PNG or
// JPEG (OutputAuto: JPEG when opaque, PNG when any pixel is transparent); an
// input that already meets the target is returned as it is, with no decode.
// Pool runs such jobs on a fixed set of workers with latest-wins coalescing
// per key, per-key ordering, a bounded queue and a memory budget (MemoryCost).
// docs/imageproc.md describes the options, the error codes and the
// benchmarks.
package imageproc
