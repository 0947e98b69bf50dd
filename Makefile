# JOS in Rust: the user's interface, with JOS's targets and variables.
#
#   make                 build obj/kern/kernel.img (+ obj/kern/kernel, .sym, .asm)
#   make qemu[-nox]      boot it (CPUS=n, QEMUEXTRA=..., QEMUACCEL=...)
#   make qemu[-nox]-gdb  boot it halted, waiting for `make gdb`
#   make run-<prog>[-nox][-gdb]   boot with user program <prog> as the first env
#                        (several: run-yield+yield+yield)
#   make grade           the grading harness (grade/); LAB=n: only labs 1..n (JOS's
#                        grade-labN; a handout's conf/lab.mk sets LAB)
#   make bench           kernel cost in guest instructions per operation (CPUS=n for the
#                        main table; the SMP rows always run with 1, 2 and 4 CPUs)
#   make test            host unit tests (make test-host) + make grade
#   make lint            rustfmt and clippy (warnings are errors) on every crate, as CI runs them
#   make book            the lab book (book/) as HTML in obj/book (installs mdbook if missing)
#   make vendor          every crate a build needs, in vendor/, for building offline
#   make clean           remove obj/ (cargo's target/ stays: `make realclean` removes it)
# TEACHER: BEGIN course kit help
#   make handout LAB=n   the lab n student handout: obj/handout/labn/ and labn.tar.gz (kit/)
#   make handout-repo    obj/handout-repo: a git repository, one branch per lab (lab1..lab4)
#                        (KITFLAGS=--with-solutions: each branch with the earlier solutions)
#   make check-handouts  cut, build and grade every handout: earlier labs pass, its own fails
# TEACHER: END

V ?= @
ifeq ($(V),1)
override V :=
endif
ifeq ($(V),0)
override V := @
endif

TOOLCHAIN := $(shell sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
CARGO ?= cargo
# The kernel's profile: PROFILE=release (default: optimized, full debug info) or PROFILE=dev
# (unoptimized). The boot sector and the user programs are always built optimized: they must
# stay small (510 bytes; the kernel embeds every program and must fit in the 4 MiB the entry
# page table maps).
PROFILE ?= release
ifeq ($(PROFILE),dev)
CARGO_OUT := target/i686-jos/debug
else
CARGO_OUT := target/i686-jos/$(PROFILE)
endif
CARGO_PROFILE := --profile $(PROFILE)
USER_OUT := target/i686-jos/release
HOST_OUT := target/release
SYSROOT_BIN = $(shell rustc --print sysroot)/lib/rustlib/$(shell rustc -vV | sed -n 's/^host: //p')/bin

OBJDIR := obj

# A student handout says which lab it is (JOS's conf/lab.mk): `make grade` runs labs 1..LAB.
# Only from there or the command line: a LAB in the environment must not shrink `make grade`.
-include conf/lab.mk
GRADE_LAB := $(if $(filter file command line,$(origin LAB)),$(LAB))

# QEMU: as JOS, the first of `qemu` or `qemu-system-i386` on the PATH.
QEMU ?= $(shell if which qemu >/dev/null 2>&1; then echo qemu; \
	elif which qemu-system-i386 >/dev/null 2>&1; then echo qemu-system-i386; \
	else echo qemu-system-i386; fi)

# Try to generate a unique GDB port.
GDBPORT ?= $(shell expr `id -u` % 5000 + 25000)
CPUS ?= 1

IMAGES = $(OBJDIR)/kern/kernel.img
QEMUOPTS = -drive file=$(OBJDIR)/kern/kernel.img,index=0,media=disk,format=raw -serial mon:stdio -gdb tcp::$(GDBPORT)
QEMUOPTS += $(shell if $(QEMU) -nographic -help 2>/dev/null | grep -q '^-D '; then echo '-D qemu.log'; fi)
# `sockets=` so SeaBIOS's MP table lists every CPU (plain -smp N on QEMU >= 6.2 lists one).
QEMUOPTS += -smp $(CPUS),sockets=$(CPUS)
# One host thread runs all vCPUs in turn (switching at pause/hlt), as in the QEMU that JOS was
# written for: its unlock_kernel `pause` hands the big lock to the next CPU; stresssched expects
# every CPU to get work. With a thread per vCPU on a small host, the host's scheduler decides
# which guest CPUs run (one CPU ran 17 of stresssched's 20 children). For real parallelism:
# QEMUACCEL="-accel tcg,thread=multi". The grader uses the same default (grade --mttcg).
QEMUACCEL ?= -accel tcg,thread=single
QEMUOPTS += $(QEMUACCEL)
QEMUOPTS += $(QEMUEXTRA)
# The program(s) to start as the first envs: read by the kernel from QEMU's fw_cfg
# (the equivalent of JOS's -DTEST=user_<prog>, without a rebuild per program).
JOSTEST ?=
JOSTEST_OPT = $(if $(JOSTEST),-fw_cfg name=opt/jos/test$(,)string=$(JOSTEST))
, := ,

all: $(IMAGES) $(OBJDIR)/kern/kernel.sym $(OBJDIR)/kern/kernel.asm

# ---- tools a fresh machine lacks ----------------------------------------------------
.PHONY: tools
tools:
	$(V)./.ci/install-tools

# ---- build ----------------------------------------------------------------------------
# cargo decides what is out of date; the copies below keep timestamps when nothing changed.
$(OBJDIR)/.cargo-built &: FORCE | tools
	$(V)$(CARGO) kbuild --release -q -p boot -p user
	$(V)$(MAKE) -s embed-user
	$(V)JOS_USER_DIR=$(abspath $(EMBED_DIR)) $(CARGO) kbuild $(CARGO_PROFILE) -q -p kernel --bin kernel
	$(V)$(CARGO) build --release -q -p mkkdebug
	$(V)mkdir -p $(OBJDIR)/kern $(OBJDIR)/boot
	$(V)cmp -s $(CARGO_OUT)/kernel $(OBJDIR)/kern/kernel.unpatched || cp $(CARGO_OUT)/kernel $(OBJDIR)/kern/kernel.unpatched
	$(V)cmp -s $(USER_OUT)/boot $(OBJDIR)/boot/boot.elf || cp $(USER_OUT)/boot $(OBJDIR)/boot/boot.elf
	$(V)touch $@

$(OBJDIR)/kern/kernel.unpatched $(OBJDIR)/boot/boot.elf: $(OBJDIR)/.cargo-built ;

# The copies of the user programs the kernel embeds: without symbols (a quarter of each file),
# so that the kernel and what mem_init boot-allocates stay inside the 4 MiB the entry page
# table maps, with 256 MiB of RAM too (test mem256). gdb's `add-symbol-file` still reads the
# programs with their symbols from target/. A copy is replaced only when it changed, so an
# unchanged program does not rebuild the kernel.
EMBED_DIR := $(OBJDIR)/user
USER_PROGS = $(basename $(notdir $(wildcard user/src/bin/*.rs)))
.PHONY: embed-user
embed-user:
	@mkdir -p $(EMBED_DIR)
	@for p in $(USER_PROGS); do \
		$(SYSROOT_BIN)/llvm-objcopy --strip-all $(USER_OUT)/$$p $(EMBED_DIR)/$$p.new && \
		if cmp -s $(EMBED_DIR)/$$p.new $(EMBED_DIR)/$$p; then rm $(EMBED_DIR)/$$p.new; \
		else mv $(EMBED_DIR)/$$p.new $(EMBED_DIR)/$$p; fi || exit 1; \
	done

$(OBJDIR)/boot/boot: $(OBJDIR)/boot/boot.elf
	@echo + mk $@
	$(V)$(SYSROOT_BIN)/rust-objcopy -O binary -j .text -j .sig $< $@
	$(V)test `wc -c < $@` -eq 512 || { echo "boot block is not 512 bytes"; rm -f $@; false; }

# The backtrace table (kern/mkkdebug) is written into the linked kernel.
$(OBJDIR)/kern/kernel: $(OBJDIR)/kern/kernel.unpatched
	@echo + mkkdebug $@
	$(V)cp $< $@.tmp
	$(V)$(HOST_OUT)/mkkdebug $@.tmp
	$(V)mv $@.tmp $@

$(OBJDIR)/kern/kernel.img: $(OBJDIR)/kern/kernel $(OBJDIR)/boot/boot
	@echo + mk $@
	$(V)$(SYSROOT_BIN)/rust-objcopy --strip-debug $(OBJDIR)/kern/kernel $(OBJDIR)/kern/kernel.stripped
	$(V)test `wc -c < $(OBJDIR)/kern/kernel.stripped` -lt 5000000 || { echo "kernel too large for the disk image"; false; }
	$(V)dd if=/dev/zero of=$@~ count=10000 2>/dev/null
	$(V)dd if=$(OBJDIR)/boot/boot of=$@~ conv=notrunc 2>/dev/null
	$(V)dd if=$(OBJDIR)/kern/kernel.stripped of=$@~ seek=1 conv=notrunc 2>/dev/null
	$(V)mv $@~ $@

$(OBJDIR)/kern/kernel.sym: $(OBJDIR)/kern/kernel
	$(V)$(SYSROOT_BIN)/llvm-nm -n -C $< > $@

$(OBJDIR)/kern/kernel.asm: $(OBJDIR)/kern/kernel
	$(V)$(SYSROOT_BIN)/llvm-objdump -d -C -l --no-show-raw-insn $< > $@

.gdbinit: .gdbinit.tmpl
	$(V)sed "s/localhost:1234/localhost:$(GDBPORT)/" < $^ > $@

# ---- run ------------------------------------------------------------------------------
gdb:
	gdb -n -x .gdbinit

pre-qemu: .gdbinit

qemu: $(IMAGES) pre-qemu
	$(QEMU) $(QEMUOPTS) $(JOSTEST_OPT)

qemu-nox: $(IMAGES) pre-qemu
	@echo "***"
	@echo "*** Use Ctrl-a x to exit qemu"
	@echo "***"
	$(QEMU) -nographic $(QEMUOPTS) $(JOSTEST_OPT)

qemu-gdb: $(IMAGES) pre-qemu
	@echo "***"
	@echo "*** Now run 'make gdb'." 1>&2
	@echo "***"
	$(QEMU) $(QEMUOPTS) $(JOSTEST_OPT) -S

qemu-nox-gdb: $(IMAGES) pre-qemu
	@echo "***"
	@echo "*** Now run 'make gdb'." 1>&2
	@echo "***"
	$(QEMU) -nographic $(QEMUOPTS) $(JOSTEST_OPT) -S

print-qemu:
	@echo $(QEMU)

print-gdbport:
	@echo $(GDBPORT)

# For deleting the build
clean:
	rm -rf $(OBJDIR) .gdbinit jos.in qemu.log

realclean: clean
	rm -rf jos.out jos.out.* target

# `make run-hello`: boot with user/hello as the first environment (JOS's run-%).
# The shortest-stem rule wins, so run-hello-nox-gdb matches run-%-nox-gdb.
prep-%:
	$(V)$(MAKE) --no-print-directory $(IMAGES)

run-%-nox-gdb: prep-% pre-qemu
	$(QEMU) -nographic $(QEMUOPTS) -fw_cfg name=opt/jos/test,string=$* -S

run-%-gdb: prep-% pre-qemu
	$(QEMU) $(QEMUOPTS) -fw_cfg name=opt/jos/test,string=$* -S

run-%-nox: prep-% pre-qemu
	$(QEMU) -nographic $(QEMUOPTS) -fw_cfg name=opt/jos/test,string=$*

run-%: prep-% pre-qemu
	$(QEMU) $(QEMUOPTS) -fw_cfg name=opt/jos/test,string=$*

# ---- tests ----------------------------------------------------------------------------
grade: all
	$(V)$(CARGO) run --release -q -p grade -- --no-build $(if $(filter @,$(V)),,-v) \
		$(if $(GRADE_LAB),--lab $(GRADE_LAB)) $(GRADEFLAGS)

# Host unit tests. In a handout (conf/lab.mk sets LAB), the tests of later labs' stubbed
# functions are skipped: they are named labN_... (N the lab whose exercise they test).
LATER_LABS_1 := 2 3 4
LATER_LABS_2 := 3 4
LATER_LABS_3 := 4
HOST_TEST_SKIP := $(foreach n,$(LATER_LABS_$(GRADE_LAB)),--skip lab$(n)_)

test-host: tools
	$(CARGO) test -q $(if $(HOST_TEST_SKIP),-- $(HOST_TEST_SKIP))

test: test-host
	$(MAKE) --no-print-directory grade

# Lints, as CI runs them (.ci/run): rustfmt on every crate, then clippy with warnings as errors
# on the host crates and on the i386 ones (boot sector, user library and programs, kernel).
# Clippy is what enforces the workspace's unsafe policy (Cargo.toml `[workspace.lints]`: an
# unsafe block needs a `// SAFETY:` line). The kernel is checked with the user programs it
# embeds (built first, as `make` does), so its build script sees what `make` gives it and the
# next `make` does not rebuild it.
# (diverging_sub_expression is allowed: a handout's stubs are `let x = todo!(...)`, which it
# flags, and the reference has no such code.)
LINT_FLAGS := -D warnings -A clippy::diverging_sub_expression
lint: tools
	$(V)$(CARGO) fmt --all --check || { echo "make lint: run 'cargo fmt --all' to format"; false; }
	$(V)$(CARGO) clippy -q --all-targets -- $(LINT_FLAGS)
	$(V)$(CARGO) kclippy --release -q -p boot -p jos-lib -p user -- $(LINT_FLAGS)
	$(V)$(CARGO) kbuild --release -q -p boot -p user
	$(V)$(MAKE) -s embed-user
	$(V)JOS_USER_DIR=$(abspath $(EMBED_DIR)) $(CARGO) kclippy $(CARGO_PROFILE) -q -p kernel --bin kernel -- $(LINT_FLAGS)

# The lab book: HTML in obj/book. mdbook is installed when missing (cargo install, a few
# minutes once); without network the chapters are plain Markdown in book/src/.
book:
	$(V)./.ci/install-tools --book || { echo "make book: no mdbook (read book/src/*.md as they are)"; false; }
	$(V)mdbook build book -d $(CURDIR)/$(OBJDIR)/book
	@echo "the lab book: $(OBJDIR)/book/index.html"

# Offline builds: every crate the kernel, the user programs, the host tools and the standard
# library (build-std) need, vendored into vendor/; the [source] lines that make cargo use it
# are written to vendor.config.toml, to append to .cargo/config.toml.
vendor:
	$(V)./.ci/vendor

# Benchmarks: the user program `bench` under QEMU icount (the guest's rdtsc counts guest
# instructions; see README.md), then `benchsmp` with 1, 2 and 4 CPUs; grade prints the tables.
bench: all
	$(V)$(CARGO) run --release -q -p grade -- --bench --no-build $(if $(filter @,$(V)),,-v) --cpus $(CPUS)

# TEACHER: BEGIN course kit targets
# ---- course kit (kit/, README "Course kit"): student handouts cut from this tree ----------
.PHONY: handout check-handouts handout-repo
handout:
	$(V)test -n "$(LAB)" || { echo "usage: make handout LAB=n (n = 1..4)"; false; }
	$(V)$(CARGO) build --release -q -p kit
	$(V)$(HOST_OUT)/kit handout --lab $(LAB)

# Slow (every handout is built and graded): not part of `make test`.
check-handouts: book
	$(V)$(CARGO) build --release -q -p kit
	$(V)$(HOST_OUT)/kit check-handouts $(KITFLAGS)

handout-repo:
	$(V)$(CARGO) build --release -q -p kit
	$(V)$(HOST_OUT)/kit handout-repo $(KITFLAGS)
# TEACHER: END

.PHONY: all gdb pre-qemu qemu qemu-nox qemu-gdb qemu-nox-gdb print-qemu print-gdbport clean \
	realclean grade test test-host lint book vendor bench FORCE
FORCE:
