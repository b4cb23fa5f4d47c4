// OpenSSH public keys for the tests of which keys Azure takes, made once with OpenSSH 9.2's
// ssh-keygen (-t ed25519; -t rsa -b 2048, 2040 and 1024; -t ecdsa -b 256) and their private halves
// thrown away. ssh-keygen makes security-key (sk-) pairs only with a FIDO token attached, so those
// two carry the ed25519 and ECDSA keys above in the sk- layout of OpenSSH's PROTOCOL.u2f (the key,
// then the application "ssh:"); `ssh-keygen -l` reads them as ED25519-SK and ECDSA-SK keys.
export const SSH_KEYS = {
  ed25519: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGo9/+ovv078TLWGKwMmeXaHj98PZyt/OrxJOxqfu4yd fixture-ed25519",
  rsa2048:
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC04zCS5I2NxAgXHWr3F85L68H8ZR7D6qcL8uo4c97KBr7ZIan+rerbRoxUNcy8SbD26XFkHdaZX4ACYjNF4mjGyHk+UmoAguCswyEDOQIg/XviowJ8cZAFU8+reAuxrxdDnWMe/ePZyDOTK/mGe24GvpqjWeLgxy8kju2P++maaOjXYtvcc7S/9jYPd+aHHrceW3JyO4p1S7hwRsZlm9aKl8xO4KE8FeNuuGy5Zpu7ST0lDQXq5Y1rLgRCpPQzQ3/xnuh+BWuLMQa5j0LjOdYJM0K4dWOMvGoAXq3qTs3fOHmOTZfxfbXlEq8DrWblNqZCoslRTXa2xFwGXTS6NT5Z fixture-rsa2048",
  /** 8 bits short of 2048: its blob (278 bytes) is within a byte of a 2048-bit key's (279), its modulus tells. */
  rsa2040:
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAADatTNue/e0I8BmYMJxDFCr12mkyGHCmE+o0EbsaKr0F8r3Xpha4yoFW3V4LT4LFL63WVxTMxqf0PK1pedSwWqN1Abh6Hf8oVI3Fonc1URTYBB27Nv7WtOA9aGmLd9BqhqgQxU9rpG9qJSv8A1Y6fcoiGt6Imy/2S9A+65JHEHE7Vgu/p/1FZGlkpb9ZZmhZX9SS6pKKdUDR5yydMLWN8CYKbLtM16vG7/dCs+KrBx0IwZQFAtNjredrV4/ZtjK9+p1G+AHTWTRuEiLzbT2wnIyYxRkrgVvmkNTOzVLUD1JGNWAOffA3oY3VxptaxPPzsJhr7XTmS+t05/jVqqjXzc= fixture-rsa2040",
  rsa1024:
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQCkLIqZ1IogLIIMt0BUfNu6+OjavovuX+jkEhQUhrT2xaQSXhDEX20pWuknxZZRHjWymrEcS62qHS6ibII1eYtK8crlhpyiKhxbtz1vGlZfG0KEEEFvwfw4p/7pyONTjWy3mEJdBbX1IzVuVG01FPeIDacuBxToT4X0tIXuuWnE/Q== fixture-rsa1024",
  ecdsa256:
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBIlTNDLblFdKvb+7D7xPcb+T8c//4kKIqD/ZvnWgN99hu0Q6ZiCiHexwXNF5bGUh7yJVXBpPkazn7b/FqkTV04I= fixture-ecdsa256",
  skEd25519:
    "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIGo9/+ovv078TLWGKwMmeXaHj98PZyt/OrxJOxqfu4ydAAAABHNzaDo= fixture-sk-ed25519",
  skEcdsa256:
    "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBIlTNDLblFdKvb+7D7xPcb+T8c//4kKIqD/ZvnWgN99hu0Q6ZiCiHexwXNF5bGUh7yJVXBpPkazn7b/FqkTV04IAAAAEc3NoOg== fixture-sk-ecdsa256",
} as const;
