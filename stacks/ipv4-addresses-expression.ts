/**
 * The provider's `ipv4_addresses` is a list of lists (one per guest interface, loopback included)
 * and can be null or hold nulls before the guest agent answers. This expression flattens it to
 * the non-loopback addresses, treating null as empty.
 *
 * @param source an expression of type list(list(string)), e.g. `proxmox_virtual_environment_vm.vm.ipv4_addresses`
 */
export function nonLoopbackIpv4Expression(source: string): string {
  return (
    "${flatten([for addresses in coalesce(" +
    source +
    ', []) : [for address in coalesce(addresses, []) : address if !startswith(address, "127.")]])}'
  );
}

/**
 * The same for `ipv6_addresses`, without loopback (::1) and link-local (fe80::/10) addresses,
 * which other hosts cannot reach.
 */
export function routableIpv6Expression(source: string): string {
  return (
    "${flatten([for addresses in coalesce(" +
    source +
    ', []) : [for address in coalesce(addresses, []) : address if address != "::1" && !can(regex("^(?i)fe[89ab][0-9a-f]:", address))]])}'
  );
}
