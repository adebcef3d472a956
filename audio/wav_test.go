package audio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/understudy/understudy/procbridge"
)

// seekBuffer is an in-memory io.WriteSeeker.
type seekBuffer struct {
	b   []byte
	off int64
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if end := s.off + int64(len(p)); end > int64(len(s.b)) {
		s.b = append(s.b, make([]byte, end-int64(len(s.b)))...)
	}
	n := copy(s.b[s.off:], p)
	s.off += int64(n)
	return n, nil
}

func (s *seekBuffer) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += int64(len(s.b))
	}
	if offset < 0 {
		return 0, errors.New("negative offset")
	}
	s.off = offset
	return offset, nil
}

// failWriter fails every write after the first n bytes.
type failWriter struct {
	seekBuffer
	n int
}

var errDiskFull = errors.New("disk full")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(f.b)+len(p) > f.n {
		return 0, errDiskFull
	}
	return f.seekBuffer.Write(p)
}

// ramp returns frames*channels samples, each distinct, including values a
// lossy path would change (NaN payloads, -0, subnormals).
func ramp(frames, channels int) []float32 {
	s := make([]float32, frames*channels)
	for i := range s {
		s[i] = float32(i)/float32(len(s)) - 0.5
	}
	if len(s) >= 4 {
		s[0] = float32(math.Copysign(0, -1))
		s[1] = math.Float32frombits(0x7fc00001) // a NaN with a payload
		s[2] = math.SmallestNonzeroFloat32
		s[3] = math.MaxFloat32
	}
	return s
}

// writeWAV writes samples in chunks of chunk frames and returns the file.
func writeWAV(t testing.TB, rate, channels int, samples []float32, chunk int) []byte {
	t.Helper()
	var buf seekBuffer
	w, err := newWAVWriter(&buf, rate, channels)
	require.NoError(t, err)
	for len(samples) > 0 {
		n := min(len(samples), chunk*channels)
		require.NoError(t, w.WriteFrames(samples[:n]))
		samples = samples[n:]
	}
	require.NoError(t, w.Close())
	return buf.b
}

func TestWAVRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		rate, channels, frames int
	}{
		{"mono empty", 48000, 1, 0},
		{"mono", 44100, 1, 1000},
		{"stereo", 48000, 2, 4097},
		{"test signal", 48000, 3, 2048},
		{"eight channels odd rate", 22050, 8, 333},
		{"one frame high rate", 192000, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := ramp(tc.frames, tc.channels)
			file := writeWAV(t, tc.rate, tc.channels, want, 100)

			rate, channels, got, err := ReadWAV(bytes.NewReader(file))
			require.NoError(t, err)
			assert.Equal(t, tc.rate, rate)
			assert.Equal(t, tc.channels, channels)
			require.Len(t, got, len(want))
			for i := range want {
				require.Equal(t, math.Float32bits(want[i]), math.Float32bits(got[i]), "sample %d", i)
			}
		})
	}
}

func TestWAVHeaderLayout(t *testing.T) {
	le := binary.LittleEndian
	for _, tc := range []struct {
		name     string
		channels int
		tag      uint16
		fmtSize  uint32
	}{
		{"mono plain", 1, 3, 18},
		{"stereo plain", 2, 3, 18},
		{"three channels extensible", 3, 0xFFFE, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const frames = 10
			file := writeWAV(t, 48000, tc.channels, ramp(frames, tc.channels), 3)
			dataSize := frames * tc.channels * 4

			assert.Equal(t, "RIFF", string(file[0:4]))
			assert.Equal(t, uint32(len(file)-8), le.Uint32(file[4:]), "RIFF size")
			assert.Equal(t, "WAVE", string(file[8:12]))
			assert.Equal(t, "fmt ", string(file[12:16]))
			assert.Equal(t, tc.fmtSize, le.Uint32(file[16:]))
			assert.Equal(t, tc.tag, le.Uint16(file[20:]))
			assert.Equal(t, uint16(tc.channels), le.Uint16(file[22:]))
			assert.Equal(t, uint32(48000), le.Uint32(file[24:]))
			assert.Equal(t, uint32(48000*tc.channels*4), le.Uint32(file[28:]), "byte rate")
			assert.Equal(t, uint16(tc.channels*4), le.Uint16(file[32:]), "block align")
			assert.Equal(t, uint16(32), le.Uint16(file[34:]), "bits per sample")
			fact := 20 + int(tc.fmtSize)
			assert.Equal(t, "fact", string(file[fact:fact+4]))
			assert.Equal(t, uint32(4), le.Uint32(file[fact+4:]))
			assert.Equal(t, uint32(frames), le.Uint32(file[fact+8:]), "fact sample length")
			data := fact + 12
			assert.Equal(t, "data", string(file[data:data+4]))
			assert.Equal(t, uint32(dataSize), le.Uint32(file[data+4:]))
			assert.Len(t, file, data+8+dataSize)
			if tc.tag == 0xFFFE {
				assert.Equal(t, uint16(22), le.Uint16(file[36:]), "cbSize")
				assert.Equal(t, uint16(32), le.Uint16(file[38:]), "valid bits")
				assert.Equal(t, uint32(0), le.Uint32(file[40:]), "channel mask")
				assert.Equal(t, wavSubtypeIEEEFloat[:], file[44:60], "sub-format")
			} else {
				assert.Equal(t, uint16(0), le.Uint16(file[36:]), "cbSize")
			}
		})
	}
}

func TestWAVWriterAtOffset(t *testing.T) {
	buf := seekBuffer{b: []byte("prefix")}
	_, err := buf.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	w, err := newWAVWriter(&buf, 8000, 2)
	require.NoError(t, err)
	want := ramp(50, 2)
	require.NoError(t, w.WriteFrames(want))
	require.NoError(t, w.Close())
	assert.Equal(t, int64(len(buf.b)), buf.off, "Close leaves the offset at the end")

	assert.Equal(t, "prefix", string(buf.b[:6]))
	rate, channels, got, err := ReadWAV(bytes.NewReader(buf.b[6:]))
	require.NoError(t, err)
	assert.Equal(t, 8000, rate)
	assert.Equal(t, 2, channels)
	assert.Len(t, got, len(want))
}

func TestWAVWriterErrors(t *testing.T) {
	for _, tc := range []struct {
		name           string
		rate, channels int
		field          string
	}{
		{"zero channels", 48000, 0, "channels"},
		{"too many channels", 48000, 16384, "channels"},
		{"zero rate", 0, 2, "rate"},
		{"negative rate", -1, 2, "rate"},
		{"byte rate overflow", 1 << 30, 2, "rate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newWAVWriter(&seekBuffer{}, tc.rate, tc.channels)
			require.ErrorIs(t, err, ErrInvalidWAV)
			var fe *procbridge.SpecError
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}

	t.Run("partial frame", func(t *testing.T) {
		w, err := newWAVWriter(&seekBuffer{}, 48000, 3)
		require.NoError(t, err)
		err = w.WriteFrames(make([]float32, 4))
		require.ErrorIs(t, err, ErrInvalidWAV)
		assert.EqualError(t, err, "audio: invalid WAV: len(interleaved) = 4: not a whole number of 3-channel frames")
	})

	t.Run("closed", func(t *testing.T) {
		w, err := newWAVWriter(&seekBuffer{}, 48000, 1)
		require.NoError(t, err)
		require.NoError(t, w.Close())
		require.NoError(t, w.Close(), "second Close")
		require.ErrorIs(t, w.WriteFrames([]float32{1}), ErrInvalidWAV)
	})

	t.Run("sticky write error", func(t *testing.T) {
		fw := &failWriter{n: 100}
		w, err := newWAVWriter(fw, 48000, 1)
		require.NoError(t, err)
		require.ErrorIs(t, w.WriteFrames(make([]float32, 100)), errDiskFull)
		require.ErrorIs(t, w.WriteFrames([]float32{1}), errDiskFull)
		require.ErrorIs(t, w.Close(), errDiskFull)
	})

	t.Run("4 GiB", func(t *testing.T) {
		w, err := newWAVWriter(&seekBuffer{}, 48000, 2)
		require.NoError(t, err)
		// The RIFF size is 50 (the header but its first 8 bytes) plus 8 a
		// stereo frame. Pretend the file already holds all it can.
		w.frames = (math.MaxUint32 - 50) / 8
		require.ErrorIs(t, w.WriteFrames(make([]float32, 2)), ErrInvalidWAV)
		w.frames--
		require.NoError(t, w.WriteFrames(make([]float32, 2)), "up to the limit")
	})

	t.Run("header write error", func(t *testing.T) {
		_, err := newWAVWriter(&failWriter{n: 10}, 48000, 1)
		require.ErrorIs(t, err, errDiskFull)
	})
}

// chunk returns a RIFF chunk with its pad byte.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// riff wraps chunks in a RIFF/WAVE header.
func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return chunk("RIFF", body)
}

// fmtBody returns a plain IEEE float fmt chunk body, 18 bytes.
func fmtBody(tag uint16, channels uint16, rate uint32, bits uint16) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, rate*uint32(channels)*uint32(bits/8))
	b = le.AppendUint16(b, channels*bits/8)
	b = le.AppendUint16(b, bits)
	return le.AppendUint16(b, 0)
}

func TestReadWAVSkipsUnknownChunks(t *testing.T) {
	data := binary.LittleEndian.AppendUint32(nil, math.Float32bits(0.25))
	file := riff(
		chunk("LIST", []byte("odd")), // odd size: a pad byte follows
		chunk("fmt ", fmtBody(3, 1, 44100, 32)),
		chunk("junk", nil),
		chunk("data", data),
		chunk("LIST", []byte("after the data")),
	)
	rate, channels, samples, err := ReadWAV(bytes.NewReader(file))
	require.NoError(t, err)
	assert.Equal(t, 44100, rate)
	assert.Equal(t, 1, channels)
	assert.Equal(t, []float32{0.25}, samples)
}

func TestReadWAVErrors(t *testing.T) {
	le := binary.LittleEndian
	good := fmtBody(3, 2, 48000, 32)
	data := chunk("data", make([]byte, 16))
	patched := func(off int, v uint16) []byte {
		b := bytes.Clone(good)
		le.PutUint16(b[off:], v)
		return b
	}
	extensible := writeWAV(t, 48000, 3, ramp(2, 3), 2)

	for _, tc := range []struct {
		name  string
		file  []byte
		field string // "" when the error is not a FieldError
		eof   bool   // wraps io.ErrUnexpectedEOF
	}{
		{name: "empty", file: nil, eof: true},
		{name: "not RIFF", file: append([]byte("RIFX"), riff()[4:]...), field: "RIFF.id"},
		{name: "not WAVE", file: chunk("RIFF", []byte("AVI ")), field: "RIFF.form"},
		{name: "RIFF size too small", file: []byte("RIFF\x02\x00\x00\x00WAVE"), field: "RIFF.size"},
		{name: "no data chunk", file: riff(chunk("fmt ", good))},
		{name: "data before fmt", file: riff(data, chunk("fmt ", good))},
		{name: "PCM", file: riff(chunk("fmt ", fmtBody(1, 2, 48000, 16)), data), field: "fmt.formatTag"},
		{name: "64-bit float", file: riff(chunk("fmt ", fmtBody(3, 2, 48000, 64)), data), field: "fmt.bitsPerSample"},
		{name: "zero channels", file: riff(chunk("fmt ", patched(2, 0)), data), field: "fmt.channels"},
		{name: "zero rate", file: riff(chunk("fmt ", fmtBody(3, 2, 0, 32)), data), field: "fmt.sampleRate"},
		{name: "block align", file: riff(chunk("fmt ", patched(12, 6)), data), field: "fmt.blockAlign"},
		{name: "byte rate", file: riff(chunk("fmt ", patched(8, 7)), data), field: "fmt.byteRate"},
		{name: "fmt too short", file: riff(chunk("fmt ", good[:14]), data), field: "fmt.size"},
		{name: "fmt too long", file: riff(chunk("fmt ", make([]byte, 2000)), data), field: "fmt .size"},
		{name: "partial frame", file: riff(chunk("fmt ", good), chunk("data", make([]byte, 12))), field: "data.size"},
		{name: "fact disagrees", file: riff(chunk("fmt ", good), chunk("fact", le.AppendUint32(nil, 3)), data),
			field: "fact.sampleLength"},
		{name: "fact too short", file: riff(chunk("fmt ", good), chunk("fact", []byte{1}), data), field: "fact.size"},
		{name: "truncated data", file: riff(chunk("fmt ", good), data)[:60], eof: true},
		{name: "truncated chunk header", file: riff(chunk("fmt ", good), data)[:42], eof: true},
		{name: "truncated skipped chunk", file: riff(chunk("LIST", make([]byte, 100)))[:50], eof: true},
		{name: "extensible with PCM sub-format", file: func() []byte {
			b := bytes.Clone(extensible)
			b[44] = 1
			return b
		}(), field: "fmt.subFormat"},
		{name: "extensible valid bits", file: func() []byte {
			b := bytes.Clone(extensible)
			le.PutUint16(b[38:], 24)
			return b
		}(), field: "fmt.validBitsPerSample"},
		{name: "extensible cbSize", file: func() []byte {
			b := bytes.Clone(extensible)
			le.PutUint16(b[36:], 0)
			return b
		}(), field: "fmt.cbSize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := ReadWAV(bytes.NewReader(tc.file))
			require.ErrorIs(t, err, ErrInvalidWAV)
			if tc.eof {
				assert.ErrorIs(t, err, io.ErrUnexpectedEOF)
			}
			var fe *procbridge.SpecError
			if tc.field == "" {
				assert.False(t, errors.As(err, &fe), "%v", err)
				return
			}
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tc.field, fe.Field, "%v", err)
		})
	}
}

func TestReadWAVErrorMessage(t *testing.T) {
	file := riff(chunk("fmt ", fmtBody(1, 2, 48000, 16)), chunk("data", nil))
	_, _, _, err := ReadWAV(bytes.NewReader(file))
	assert.EqualError(t, err,
		`audio: invalid WAV: fmt.formatTag = "0x0001": want 0x0003 (IEEE float) or 0xfffe (extensible)`)
}

func FuzzReadWAV(f *testing.F) {
	f.Add(writeWAV(f, 48000, 1, ramp(4, 1), 4))
	f.Add(writeWAV(f, 44100, 2, ramp(3, 2), 1))
	f.Add(writeWAV(f, 96000, 3, ramp(5, 3), 2))
	f.Add(riff(chunk("LIST", []byte("odd")), chunk("fmt ", fmtBody(3, 1, 8000, 32)), chunk("data", make([]byte, 8))))
	f.Add([]byte("RIFF\xff\xff\xff\xffWAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, file []byte) {
		rate, channels, samples, err := ReadWAV(bytes.NewReader(file))
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidWAV)
			return
		}
		require.Positive(t, rate)
		require.Positive(t, channels)
		require.Zero(t, len(samples)%channels)
		require.LessOrEqual(t, 4*len(samples), len(file))
	})
}
