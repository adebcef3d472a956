package supervision

// Pos returns where field was written in f's file (position).
func (f *File) Pos(field string) (Position, bool) { return f.position(field) }

// String returns p as file:line:col (text).
func (p Position) String() string { return p.text() }
