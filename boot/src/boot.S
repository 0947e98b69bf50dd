# The BIOS loads this sector at 0x7C00 and jumps here in real mode with CS=0, IP=7C00.
# Switch to 32-bit protected mode with a flat GDT, then call the C-like loader (main.rs).
# (JOS's boot/boot.S.)

.set PROT_MODE_CSEG, 0x8        # kernel code segment selector
.set PROT_MODE_DSEG, 0x10       # kernel data segment selector
.set CR0_PE_ON,      0x1        # protected mode enable flag

.section .text.boot, "ax"
.globl start
start:
  .code16
  cli                           # BIOS enabled interrupts; disable
  cld                           # string operations increment

  # Set up the important data segment registers (DS, ES, SS).
  xorw    %ax,%ax
  movw    %ax,%ds
  movw    %ax,%es
  movw    %ax,%ss

  # Enable A20: for backwards compatibility with the earliest PCs, physical address line 20
  # is tied low, so addresses above 1MB wrap around to zero. Undo that via the keyboard
  # controller's output port.
seta20.1:
  inb     $0x64,%al             # wait for not busy
  testb   $0x2,%al
  jnz     seta20.1
  movb    $0xd1,%al             # 0xd1 -> port 0x64: write output port
  outb    %al,$0x64
seta20.2:
  inb     $0x64,%al             # wait for not busy
  testb   $0x2,%al
  jnz     seta20.2
  movb    $0xdf,%al             # 0xdf -> port 0x60: A20 on
  outb    %al,$0x60

  # Switch from real to protected mode with a bootstrap GDT whose segments make virtual
  # addresses identical to physical ones.
  lgdt    gdtdesc
  movl    %cr0, %eax
  orl     $CR0_PE_ON, %eax
  movl    %eax, %cr0

  # Jump to the next instruction, but in 32-bit code segment: switches the processor
  # into 32-bit mode.
  ljmp    $PROT_MODE_CSEG, $protcseg

  .code32
protcseg:
  movw    $PROT_MODE_DSEG, %ax
  movw    %ax, %ds
  movw    %ax, %es
  movw    %ax, %fs
  movw    %ax, %gs
  movw    %ax, %ss
  # The stack grows down from just below the boot sector.
  movl    $start, %esp
  call    bootmain
  # bootmain only returns on error.
spin:
  hlt
  jmp     spin

.p2align 2
gdt:
  .word 0, 0, 0, 0                      # null segment
  .word 0xffff, 0x0000                  # code: base 0, limit 4G, type X|R
  .byte 0x00, 0x9a, 0xcf, 0x00
  .word 0xffff, 0x0000                  # data: base 0, limit 4G, type W
  .byte 0x00, 0x92, 0xcf, 0x00
gdtdesc:
  .word   0x17                          # sizeof(gdt) - 1
  .long   gdt

.text
