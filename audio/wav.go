package audio

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// WAV format tags and layout constants.
const (
	wavFormatIEEEFloat  = 0x0003
	wavFormatExtensible = 0xFFFE

	wavBytesPerSample = 4
	// wavMaxChannels keeps the block align (channels * 4) inside its uint16.
	wavMaxChannels = math.MaxUint16 / wavBytesPerSample
)

// wavSubtypeIEEEFloat is KSDATAFORMAT_SUBTYPE_IEEE_FLOAT,
// {00000003-0000-0010-8000-00AA00389B71}, as it is laid out in a file.
var wavSubtypeIEEEFloat = [16]byte{
	0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00,
	0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
}

// A wavWriter streams interleaved float32 frames into a RIFF/WAVE file
// (IEEE float, 32 bits per sample) and patches the chunk sizes on Close.
//
// One or two channels are written with the plain format tag 3
// (WAVE_FORMAT_IEEE_FLOAT, an 18-byte fmt chunk with cbSize 0); more channels
// with WAVE_FORMAT_EXTENSIBLE (sub-format IEEE float, channel mask 0: the
// channels are not assigned to speakers). Either way a fact chunk holds the
// frame count, as the RIFF specification requires for formats other than
// PCM. The header is the same size for every frame count, so the file is
// valid (with zero frames) from the moment the writer is created.
//
// A wavWriter is not safe for concurrent use.
type wavWriter struct {
	w        io.WriteSeeker
	start    int64 // offset of "RIFF" in w
	channels int
	frames   int64
	factOff  int64 // offset of the fact chunk's sample count, from start
	dataOff  int64 // offset of the data chunk's size, from start
	buf      []byte
	err      error // sticky: the first write error
	closed   bool
}

// newWAVWriter writes a WAV header for the given sample rate (frames per
// second) and channel count at w's current offset, and returns a writer for
// the frames that follow. The caller closes w after [wavWriter.Close].
func newWAVWriter(w io.WriteSeeker, rate, channels int) (*wavWriter, error) {
	if channels < 1 || channels > wavMaxChannels {
		return nil, fieldErr(ErrInvalidWAV, "channels", channels, "must be 1..%d", wavMaxChannels)
	}
	if rate < 1 || uint64(rate) > math.MaxUint32 || uint64(rate)*uint64(channels)*wavBytesPerSample > math.MaxUint32 {
		return nil, fieldErr(ErrInvalidWAV, "rate", rate,
			"must be at least 1, with rate*channels*4 (the byte rate) at most %d", uint32(math.MaxUint32))
	}
	start, err := w.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, fmt.Errorf("audio: wav: header: %w", err)
	}
	ww := &wavWriter{w: w, start: start, channels: channels, buf: make([]byte, 0, 8192)}
	hdr := ww.header(uint32(rate))
	if _, err := w.Write(hdr); err != nil {
		return nil, fmt.Errorf("audio: wav: header: %w", err)
	}
	return ww, nil
}

// header lays out RIFF, fmt, fact and the data chunk's header, with every
// size as for zero frames, and records where the sizes to patch live.
func (ww *wavWriter) header(rate uint32) []byte {
	le := binary.LittleEndian
	blockAlign := uint16(ww.channels * wavBytesPerSample)
	b := make([]byte, 0, 80)
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, 0) // patched on Close
	b = append(b, "WAVE"...)
	b = append(b, "fmt "...)
	if ww.channels <= 2 {
		b = le.AppendUint32(b, 18)
		b = le.AppendUint16(b, wavFormatIEEEFloat)
	} else {
		b = le.AppendUint32(b, 40)
		b = le.AppendUint16(b, wavFormatExtensible)
	}
	b = le.AppendUint16(b, uint16(ww.channels))
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, rate*uint32(blockAlign))
	b = le.AppendUint16(b, blockAlign)
	b = le.AppendUint16(b, 8*wavBytesPerSample)
	if ww.channels <= 2 {
		b = le.AppendUint16(b, 0) // cbSize
	} else {
		b = le.AppendUint16(b, 22)                  // cbSize
		b = le.AppendUint16(b, 8*wavBytesPerSample) // wValidBitsPerSample
		b = le.AppendUint32(b, 0)                   // dwChannelMask: no speaker positions
		b = append(b, wavSubtypeIEEEFloat[:]...)
	}
	b = append(b, "fact"...)
	b = le.AppendUint32(b, 4)
	ww.factOff = int64(len(b))
	b = le.AppendUint32(b, 0) // frame count, patched on Close
	b = append(b, "data"...)
	ww.dataOff = int64(len(b))
	b = le.AppendUint32(b, 0) // patched on Close
	le.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

// WriteFrames appends interleaved frames: len(interleaved) must be a whole
// number of frames (a multiple of the channel count). After a write error,
// every later call returns that error.
func (ww *wavWriter) WriteFrames(interleaved []float32) error {
	if ww.closed {
		return fmt.Errorf("%w: a write after Close", ErrInvalidWAV)
	}
	if ww.err != nil {
		return ww.err
	}
	if len(interleaved)%ww.channels != 0 {
		return fieldErr(ErrInvalidWAV, "len(interleaved)", len(interleaved),
			"not a whole number of %d-channel frames", ww.channels)
	}
	frames := int64(len(interleaved) / ww.channels)
	if ww.riffSize(ww.frames+frames) > math.MaxUint32 {
		return fmt.Errorf("%w: data past the 4 GiB RIFF limit", ErrInvalidWAV)
	}
	le := binary.LittleEndian
	for len(interleaved) > 0 {
		n := min(len(interleaved), cap(ww.buf)/wavBytesPerSample)
		b := ww.buf[:0]
		for _, s := range interleaved[:n] {
			b = le.AppendUint32(b, math.Float32bits(s))
		}
		if _, err := ww.w.Write(b); err != nil {
			ww.err = fmt.Errorf("audio: wav: data: %w", err)
			return ww.err
		}
		interleaved = interleaved[n:]
	}
	ww.frames += frames
	return nil
}

// Close patches the RIFF, fact and data sizes and leaves w's offset at the
// end of the data. It does not close w. Closing twice is allowed; the second
// call does nothing.
func (ww *wavWriter) Close() error {
	if ww.closed {
		return nil
	}
	ww.closed = true
	if ww.err != nil {
		return ww.err
	}
	dataSize := ww.dataSize(ww.frames)
	end := ww.start + ww.dataOff + 4 + dataSize
	le := binary.LittleEndian
	for _, p := range []struct {
		off int64
		v   uint32
	}{
		{4, uint32(ww.riffSize(ww.frames))},
		{ww.factOff, uint32(ww.frames)},
		{ww.dataOff, uint32(dataSize)},
	} {
		if _, err := ww.w.Seek(ww.start+p.off, io.SeekStart); err != nil {
			return fmt.Errorf("audio: wav: patching sizes: %w", err)
		}
		if _, err := ww.w.Write(le.AppendUint32(nil, p.v)); err != nil {
			return fmt.Errorf("audio: wav: patching sizes: %w", err)
		}
	}
	if _, err := ww.w.Seek(end, io.SeekStart); err != nil {
		return fmt.Errorf("audio: wav: patching sizes: %w", err)
	}
	return nil
}

// dataSize returns the size of the data chunk's body holding frames.
func (ww *wavWriter) dataSize(frames int64) int64 {
	return frames * int64(ww.channels) * wavBytesPerSample
}

// riffSize returns the RIFF chunk's size field for a file holding frames:
// the whole file but the 8 bytes of the RIFF chunk's own header.
func (ww *wavWriter) riffSize(frames int64) int64 {
	return ww.dataOff + 4 + ww.dataSize(frames) - 8
}

// WriteWAV writes samples, interleaved with the given number of channels,
// to w as a RIFF/WAVE file of 32-bit IEEE float samples at rate frames a
// second: the format ReadWAV reads and an Engine writes. One or two
// channels are written with the plain format tag 3
// (WAVE_FORMAT_IEEE_FLOAT), more with WAVE_FORMAT_EXTENSIBLE (channels not
// assigned to speakers); a fact chunk holds the frame count. Errors wrap
// [ErrInvalidWAV] and name the argument at fault, or are w's.
func WriteWAV(w io.Writer, rate, channels int, samples []float32) error {
	var f memFile
	ww, err := newWAVWriter(&f, rate, channels)
	if err != nil {
		return err
	}
	if err := ww.WriteFrames(samples); err != nil {
		return err
	}
	if err := ww.Close(); err != nil {
		return err
	}
	_, err = w.Write(f.b)
	return err
}

// memFile is an io.WriteSeeker in memory.
type memFile struct {
	b   []byte
	off int
}

func (m *memFile) Write(p []byte) (int, error) {
	if end := m.off + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	copy(m.b[m.off:], p)
	m.off += len(p)
	return len(p), nil
}

func (m *memFile) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += int64(m.off)
	case io.SeekEnd:
		offset += int64(len(m.b))
	}
	if offset < 0 {
		return 0, fmt.Errorf("audio: seek to %d", offset)
	}
	m.off = int(offset)
	return offset, nil
}

// ReadWAV reads a whole RIFF/WAVE stream of 32-bit IEEE float samples (format
// tag 3, or WAVE_FORMAT_EXTENSIBLE with the IEEE float sub-format) and
// returns its sample rate, channel count and interleaved samples. Chunks
// other than fmt, fact and data are skipped; a fact chunk, when present, must
// agree with the data's frame count. Errors wrap [ErrInvalidWAV] and name
// the offending field and value; a stream that ends early also wraps
// [io.ErrUnexpectedEOF].
//
// Memory grows with the bytes actually read, never with the sizes a header
// claims, so a hostile header cannot make ReadWAV allocate gigabytes.
func ReadWAV(r io.Reader) (rate, channels int, samples []float32, err error) {
	le := binary.LittleEndian
	var riff [12]byte
	if _, err := io.ReadFull(r, riff[:]); err != nil {
		return 0, 0, nil, wavEOF("RIFF header", err)
	}
	if string(riff[0:4]) != "RIFF" {
		return 0, 0, nil, fieldErr(ErrInvalidWAV, "RIFF.id", string(riff[0:4]), `want "RIFF"`)
	}
	if string(riff[8:12]) != "WAVE" {
		return 0, 0, nil, fieldErr(ErrInvalidWAV, "RIFF.form", string(riff[8:12]), `want "WAVE"`)
	}
	riffSize := le.Uint32(riff[4:8])
	if riffSize < 4 {
		return 0, 0, nil, fieldErr(ErrInvalidWAV, "RIFF.size", riffSize, "want at least 4")
	}
	// Chunks must lie inside the RIFF chunk.
	r = io.LimitReader(r, int64(riffSize)-4)

	var (
		f       wavFormat
		haveFmt bool
		factLen int64 = -1
		hdr     [8]byte
	)
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF {
				return 0, 0, nil, fmt.Errorf("%w: no data chunk", ErrInvalidWAV)
			}
			return 0, 0, nil, wavEOF("chunk header", err)
		}
		id, size := string(hdr[0:4]), le.Uint32(hdr[4:8])
		switch id {
		case "fmt ", "fact":
			if size > 1024 {
				return 0, 0, nil, fieldErr(ErrInvalidWAV, id+".size", size, "want at most 1024")
			}
			chunkBuf := make([]byte, size)
			if _, err := io.ReadFull(r, chunkBuf); err != nil {
				return 0, 0, nil, wavEOF(id+" chunk", err)
			}
			if id == "fmt " {
				if f, err = parseWAVFormat(chunkBuf); err != nil {
					return 0, 0, nil, err
				}
				haveFmt = true
			} else {
				if size < 4 {
					return 0, 0, nil, fieldErr(ErrInvalidWAV, "fact.size", size, "want at least 4")
				}
				factLen = int64(le.Uint32(chunkBuf))
			}
		case "data":
			if !haveFmt {
				return 0, 0, nil, fmt.Errorf("%w: data chunk before the fmt chunk", ErrInvalidWAV)
			}
			if size%uint32(f.blockAlign) != 0 {
				return 0, 0, nil, fieldErr(ErrInvalidWAV, "data.size", size,
					"not a whole number of %d-byte frames", f.blockAlign)
			}
			var data bytes.Buffer
			n, err := data.ReadFrom(io.LimitReader(r, int64(size)))
			if err != nil {
				return 0, 0, nil, fmt.Errorf("%w: reading data: %w", ErrInvalidWAV, err)
			}
			if n != int64(size) {
				return 0, 0, nil, wavEOF(fmt.Sprintf("data (%d of %d bytes)", n, size), io.ErrUnexpectedEOF)
			}
			frames := int64(size) / int64(f.blockAlign)
			if factLen >= 0 && factLen != frames {
				return 0, 0, nil, fieldErr(ErrInvalidWAV, "fact.sampleLength", factLen,
					"data holds %d frames", frames)
			}
			b := data.Bytes()
			samples = make([]float32, len(b)/wavBytesPerSample)
			for i := range samples {
				samples[i] = math.Float32frombits(le.Uint32(b[wavBytesPerSample*i:]))
			}
			return int(f.rate), int(f.channels), samples, nil
		default:
			// Skip the chunk and its pad byte.
			skip := int64(size) + int64(size&1)
			if n, err := io.CopyN(io.Discard, r, skip); err != nil {
				return 0, 0, nil, wavEOF(fmt.Sprintf("%q chunk (%d of %d bytes)", id, n, skip), err)
			}
			continue
		}
		if size&1 == 1 {
			if _, err := io.ReadFull(r, hdr[:1]); err != nil {
				return 0, 0, nil, wavEOF(id+" pad byte", err)
			}
		}
	}
}

// wavFormat is the part of a fmt chunk ReadWAV keeps.
type wavFormat struct {
	channels   uint16
	rate       uint32
	blockAlign uint16
}

// parseWAVFormat checks a fmt chunk's body and returns its format.
func parseWAVFormat(b []byte) (wavFormat, error) {
	le := binary.LittleEndian
	if len(b) < 16 {
		return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.size", len(b), "want at least 16")
	}
	tag := le.Uint16(b[0:])
	f := wavFormat{
		channels:   le.Uint16(b[2:]),
		rate:       le.Uint32(b[4:]),
		blockAlign: le.Uint16(b[12:]),
	}
	byteRate, bits := le.Uint32(b[8:]), le.Uint16(b[14:])
	switch tag {
	case wavFormatIEEEFloat:
	case wavFormatExtensible:
		if len(b) < 40 {
			return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.size", len(b), "want 40 for WAVE_FORMAT_EXTENSIBLE")
		}
		if cb := le.Uint16(b[16:]); cb < 22 {
			return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.cbSize", cb, "want 22 for WAVE_FORMAT_EXTENSIBLE")
		}
		if valid := le.Uint16(b[18:]); valid != 8*wavBytesPerSample {
			return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.validBitsPerSample", valid, "want 32")
		}
		if sub := [16]byte(b[24:40]); sub != wavSubtypeIEEEFloat {
			return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.subFormat", fmt.Sprintf("% x", sub[:]),
				"want KSDATAFORMAT_SUBTYPE_IEEE_FLOAT")
		}
	default:
		return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.formatTag", fmt.Sprintf("%#04x", tag),
			"want 0x0003 (IEEE float) or 0xfffe (extensible)")
	}
	switch {
	case f.channels == 0:
		return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.channels", f.channels, "want at least 1")
	case f.rate == 0 || f.rate > math.MaxInt32:
		return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.sampleRate", f.rate, "want 1..%d", math.MaxInt32)
	case bits != 8*wavBytesPerSample:
		return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.bitsPerSample", bits, "want 32")
	case int(f.blockAlign) != int(f.channels)*wavBytesPerSample:
		return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.blockAlign", f.blockAlign,
			"want channels*4 = %d", int(f.channels)*wavBytesPerSample)
	case uint64(byteRate) != uint64(f.rate)*uint64(f.blockAlign):
		return wavFormat{}, fieldErr(ErrInvalidWAV, "fmt.byteRate", byteRate,
			"want sampleRate*blockAlign = %d", uint64(f.rate)*uint64(f.blockAlign))
	}
	return f, nil
}

// wavEOF wraps a read error from ReadWAV; a plain EOF inside a structure
// becomes io.ErrUnexpectedEOF.
func wavEOF(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%w: reading %s: %w", ErrInvalidWAV, what, err)
}
