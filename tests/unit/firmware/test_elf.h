// A minimal ELF64 x86-64 executable for the vmlinux tests, built in memory.
#pragma once

#include <elf.h>

#include <cstdint>
#include <cstring>
#include <vector>

namespace franca::firmware {

// A minimal ELF64 x86-64 executable: one PT_LOAD of `filesz` bytes (memsz
// `memsz`) at physical `paddr`, entered at its start.
inline std::vector<uint8_t> elf(uint64_t paddr, uint64_t filesz, uint64_t memsz) {
  std::vector<uint8_t> b(sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + filesz);
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_entry = paddr;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = 1;
  Elf64_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr);
  ph.p_paddr = paddr;
  ph.p_vaddr = 0xffffffff80000000ull + paddr;
  ph.p_filesz = filesz;
  ph.p_memsz = memsz;
  std::memcpy(b.data(), &eh, sizeof(eh));
  std::memcpy(b.data() + sizeof(eh), &ph, sizeof(ph));
  for (uint64_t i = 0; i < filesz; ++i) b[ph.p_offset + i] = static_cast<uint8_t>(i + 1);
  return b;
}

}  // namespace franca::firmware
