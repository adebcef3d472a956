//go:build linux

package deathwatch

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// The record a program pushes into the ring, little-endian:
//
//	0  u32 tgid
//	4  u32 kind (Kind)
//	8  u32 signal (Signal) or wait status (Exit)
//	12 u32 sender's tgid (Signal: 0 when the kernel sent it; OOM: the
//	       allocating process)
//	16 u64 the kernel's CLOCK_MONOTONIC ns
//	24 u64 the cookie of the tgid's map entry
//
// recordSize (watch.go) is its size; Notice.decode reads it.

// Linux's values the programs test, which BTF does not carry.
const (
	sigKill         = 9
	signalGroupExit = 0x4 // SIGNAL_GROUP_EXIT in signal_struct.flags
	sendSigPriv     = 1   // SEND_SIG_PRIV: a kernel_siginfo pointer meaning "sent by the kernel"
	// coreMask: the signals whose default action dumps core and ends the
	// process (sig_kernel_coredump): SIGQUIT, SIGILL, SIGTRAP, SIGABRT,
	// SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS.
	coreMask = 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<11 | 1<<24 | 1<<25 | 1<<31
)

// offsets are where the programs read the kernel's structures, from its
// BTF.
type offsets struct {
	tgid, ptrace, signal, sighand, blocked, exitCode int16 // task_struct
	flags, groupExitCode                             int16 // signal_struct
	action, sigactionSize                            int32 // sighand_struct.action[], sizeof(struct k_sigaction); sa_handler is at 0
}

func kernelOffsets() (offsets, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return offsets{}, fmt.Errorf("kernel BTF: %w: %w", err, ErrNotSupported)
	}
	var o offsets
	field := func(typ, name string) (int, error) {
		var s *btf.Struct
		if err := spec.TypeByName(typ, &s); err != nil {
			return 0, fmt.Errorf("kernel BTF: struct %s: %w: %w", typ, err, ErrNotSupported)
		}
		for _, m := range s.Members {
			if m.Name == name {
				if m.Offset%8 != 0 {
					break
				}
				return int(m.Offset / 8), nil
			}
		}
		return 0, fmt.Errorf("kernel BTF: no %s.%s: %w", typ, name, ErrNotSupported)
	}
	for _, f := range []struct {
		typ, name string
		to        *int16
	}{
		{"task_struct", "tgid", &o.tgid},
		{"task_struct", "ptrace", &o.ptrace},
		{"task_struct", "signal", &o.signal},
		{"task_struct", "sighand", &o.sighand},
		{"task_struct", "blocked", &o.blocked},
		{"task_struct", "exit_code", &o.exitCode},
		{"signal_struct", "flags", &o.flags},
		{"signal_struct", "group_exit_code", &o.groupExitCode},
	} {
		off, err := field(f.typ, f.name)
		if err != nil {
			return offsets{}, err
		}
		if off > 1<<15-1 {
			return offsets{}, fmt.Errorf("kernel BTF: %s.%s at %d: %w", f.typ, f.name, off, ErrNotSupported)
		}
		*f.to = int16(off)
	}
	action, err := field("sighand_struct", "action")
	if err != nil {
		return offsets{}, err
	}
	var ka *btf.Struct
	if err := spec.TypeByName("k_sigaction", &ka); err != nil {
		return offsets{}, fmt.Errorf("kernel BTF: struct k_sigaction: %w: %w", err, ErrNotSupported)
	}
	size, err := btf.Sizeof(ka)
	if err != nil || size <= 0 || len(ka.Members) == 0 || ka.Members[0].Offset != 0 {
		return offsets{}, fmt.Errorf("kernel BTF: struct k_sigaction of an unknown layout: %w", ErrNotSupported)
	}
	o.action, o.sigactionSize = int32(action), int32(size)
	return o, nil
}

// Stack slots of the programs (below the frame pointer R10).
const (
	slotKey  = -8  // u32 tgid: the map key
	slotTemp = -16 // u64 kernel reads
)

// readKernel reads size bytes at src+off into slotTemp (probe_read_kernel),
// jumping to "exit" when the read fails. src is kept.
func readKernel(src asm.Register, off int32, size int32) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R3, src),
		asm.Add.Imm(asm.R3, off),
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, slotTemp),
		asm.Mov.Imm(asm.R2, size),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "exit"),
	}
}

// label names the first of insns.
func label(name string, insns asm.Instructions) asm.Instructions {
	insns[0] = insns[0].WithSymbol(name)
	return insns
}

// lookupTask reads the tgid of the task in R7 into slotKey and looks it up
// in watched, jumping to "exit" when it is not watched; the entry's cookie
// ends in R9.
func lookupTask(watched *ebpf.Map, o offsets) asm.Instructions {
	return append(readTgid(o),
		asm.LoadMapPtr(asm.R1, watched.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.LoadMem(asm.R9, asm.R0, 0, asm.DWord),
	)
}

// readTgid reads the tgid of the task in R7 into slotKey, jumping to
// "exit" when the read fails.
func readTgid(o offsets) asm.Instructions {
	return asm.Instructions{
		asm.Mov.Reg(asm.R1, asm.RFP),
		asm.Add.Imm(asm.R1, slotKey),
		asm.Mov.Imm(asm.R2, 4),
		asm.Mov.Reg(asm.R3, asm.R7),
		asm.Add.Imm(asm.R3, int32(o.tgid)),
		asm.FnProbeReadKernel.Call(),
		asm.JNE.Imm(asm.R0, 0, "exit"),
	}
}

// emit pushes a record of kind for the tgid in slotKey, with R8 as its
// signal or status and R6 as its sender (a tgid, or 0), and the cookie in
// R9; with forget, it first takes the tgid out of watched.
func emit(watched, ring *ebpf.Map, kind Kind, forget bool) asm.Instructions {
	var insns asm.Instructions
	insns = append(insns, asm.Mov.Imm(asm.R0, 0).WithSymbol("emit"))
	if forget {
		insns = append(insns,
			asm.LoadMapPtr(asm.R1, watched.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, slotKey),
			asm.FnMapDeleteElem.Call(),
		)
	}
	return append(insns,
		asm.LoadMapPtr(asm.R1, ring.FD()),
		asm.Mov.Imm(asm.R2, recordSize),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.LoadMem(asm.R1, asm.RFP, slotKey, asm.Word),
		asm.StoreMem(asm.R7, 0, asm.R1, asm.Word),
		asm.StoreImm(asm.R7, 4, int64(kind), asm.Word),
		asm.StoreMem(asm.R7, 8, asm.R8, asm.Word),
		asm.StoreMem(asm.R7, 12, asm.R6, asm.Word),
		asm.StoreMem(asm.R7, 24, asm.R9, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.R7, 16, asm.R0, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R7),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRingbufSubmit.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"),
		asm.Return(),
	)
}

// signalProgram runs on signal_generate(sig, info, task, group, result).
func signalProgram(watched, ring *ebpf.Map, o offsets) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		// Only a signal the kernel queued (TRACE_SIGNAL_DELIVERED).
		asm.LoadMem(asm.R1, asm.R6, 32, asm.DWord),
		asm.JNE.Imm32(asm.R1, 0, "exit"),
		asm.LoadMem(asm.R7, asm.R6, 16, asm.DWord), // task
	}
	insns = append(insns, lookupTask(watched, o)...)
	insns = append(insns,
		asm.LoadMem(asm.R8, asm.R6, 0, asm.DWord),
		asm.Mov.Reg32(asm.R8, asm.R8), // the signal, zero-extended
		// The sender: the current task's tgid, or 0 when the kernel sent
		// it on nobody's behalf (SEND_SIG_PRIV).
		asm.LoadMem(asm.R1, asm.R6, 8, asm.DWord),
		asm.Mov.Imm(asm.R6, 0),
		asm.JEq.Imm(asm.R1, sendSigPriv, "sent"),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.Mov.Reg(asm.R6, asm.R0),
		asm.JEq.Imm(asm.R8, sigKill, "emit").WithSymbol("sent"),
		asm.JGT.Imm(asm.R8, 31, "group"),
		asm.Mov.Imm(asm.R1, 1),
		asm.LSh.Reg(asm.R1, asm.R8),
		asm.And.Imm(asm.R1, coreMask-1<<32), // sign-extended: bit 31 stays, the bits above are 0 in R1
		asm.JNE.Imm(asm.R1, 0, "core"),
	)
	// Any other signal: fatal once the kernel began the group's exit for it.
	insns = append(insns, label("group", readKernel(asm.R7, int32(o.signal), 8))...)
	insns = append(insns, asm.LoadMem(asm.R2, asm.RFP, slotTemp, asm.DWord))
	insns = append(insns, readKernel(asm.R2, int32(o.flags), 4)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, slotTemp, asm.Word),
		asm.And.Imm(asm.R1, signalGroupExit),
		asm.JEq.Imm(asm.R1, 0, "exit"),
		asm.Ja.Label("emit"),
	)
	// A core-dumping signal: fatal when not traced, not blocked, and its
	// action is the default.
	insns = append(insns, label("core", readKernel(asm.R7, int32(o.ptrace), 4))...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, slotTemp, asm.Word),
		asm.JNE.Imm(asm.R1, 0, "exit"),
	)
	insns = append(insns, readKernel(asm.R7, int32(o.blocked), 8)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, slotTemp, asm.DWord),
		asm.Mov.Reg(asm.R2, asm.R8),
		asm.Sub.Imm(asm.R2, 1),
		asm.And.Imm(asm.R2, 63),
		asm.RSh.Reg(asm.R1, asm.R2),
		asm.And.Imm(asm.R1, 1),
		asm.JNE.Imm(asm.R1, 0, "exit"),
	)
	insns = append(insns, readKernel(asm.R7, int32(o.sighand), 8)...)
	insns = append(insns,
		asm.LoadMem(asm.R2, asm.RFP, slotTemp, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R8),
		asm.Sub.Imm(asm.R1, 1),
		asm.And.Imm(asm.R1, 63),
		asm.Mul.Imm(asm.R1, o.sigactionSize),
		asm.Add.Reg(asm.R2, asm.R1),
	)
	insns = append(insns, readKernel(asm.R2, o.action, 8)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, slotTemp, asm.DWord),
		asm.JNE.Imm(asm.R1, 0, "exit"), // SIG_DFL is 0
	)
	return append(insns, emit(watched, ring, Signal, false)...)
}

// exitProgram runs on sched_process_exit(task, group_dead): a notice when
// the group's exit has begun, or this is its last thread.
func exitProgram(watched, ring *ebpf.Map, o offsets) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 0, asm.DWord), // task
	}
	insns = append(insns, lookupTask(watched, o)...)
	insns = append(insns,
		asm.LoadMem(asm.R8, asm.R6, 8, asm.DWord),
		asm.And.Imm(asm.R8, 0xff), // group_dead
	)
	insns = append(insns, readKernel(asm.R7, int32(o.signal), 8)...)
	insns = append(insns,
		asm.LoadMem(asm.R6, asm.RFP, slotTemp, asm.DWord), // signal_struct
	)
	insns = append(insns, readKernel(asm.R6, int32(o.flags), 4)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, slotTemp, asm.Word),
		asm.And.Imm(asm.R1, signalGroupExit),
		asm.JNE.Imm(asm.R1, 0, "groupcode"),
		asm.JEq.Imm(asm.R8, 0, "exit"), // one thread of many
	)
	insns = append(insns, readKernel(asm.R7, int32(o.exitCode), 4)...)
	insns = append(insns, asm.Ja.Label("code"))
	insns = append(insns, label("groupcode", readKernel(asm.R6, int32(o.groupExitCode), 4))...)
	insns = append(insns,
		asm.LoadMem(asm.R8, asm.RFP, slotTemp, asm.Word).WithSymbol("code"),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.Mov.Reg(asm.R6, asm.R0),
	)
	return append(insns, emit(watched, ring, Exit, true)...)
}

// oomProgram runs on mark_victim(task, uid).
func oomProgram(watched, ring *ebpf.Map, o offsets) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.LoadMem(asm.R7, asm.R6, 0, asm.DWord), // task
	}
	insns = append(insns, lookupTask(watched, o)...)
	insns = append(insns,
		asm.Mov.Imm(asm.R8, sigKill),
		asm.FnGetCurrentPidTgid.Call(),
		asm.RSh.Imm(asm.R0, 32),
		asm.Mov.Reg(asm.R6, asm.R0),
	)
	return append(insns, emit(watched, ring, OOM, true)...)
}

// forkProgram runs on sched_process_fork(parent, child), in the parent,
// before the child is first woken: a child forked by a thread whose tid is
// in forking is put in watched with the cookie found there, so that it is
// watched from its first instruction. A thread the forking thread starts
// (the child shares its tgid) is not.
func forkProgram(watched, forking *ebpf.Map, o offsets) asm.Instructions {
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.FnGetCurrentPidTgid.Call(),
		asm.Mov.Reg(asm.R8, asm.R0),
		asm.RSh.Imm(asm.R8, 32),                          // the parent's tgid
		asm.StoreMem(asm.RFP, slotKey, asm.R0, asm.Word), // its tid: the key
		asm.LoadMapPtr(asm.R1, forking.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slotKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "exit"),
		asm.LoadMem(asm.R9, asm.R0, 0, asm.DWord), // the cookie
		asm.LoadMem(asm.R7, asm.R6, 8, asm.DWord), // child
	}
	insns = append(insns, readTgid(o)...)
	insns = append(insns,
		asm.LoadMem(asm.R1, asm.RFP, slotKey, asm.Word),
		asm.JEq.Reg(asm.R1, asm.R8, "exit"),
		asm.StoreMem(asm.RFP, slotTemp, asm.R9, asm.DWord),
		asm.LoadMapPtr(asm.R1, watched.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, slotKey),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, slotTemp),
		asm.Mov.Imm(asm.R4, 0), // BPF_ANY
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("exit"),
		asm.Return(),
	)
	return insns
}
