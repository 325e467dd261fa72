//! Interface addresses via getifaddrs(3), to resolve `bind=tailnet`.

use std::net::Ipv4Addr;

/// All IPv4 addresses of this host's interfaces.
pub fn ipv4_addresses() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free with freeifaddrs.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        while !cur.is_null() {
            let addr = (*cur).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = addr as *const libc::sockaddr_in;
                out.push(Ipv4Addr::from(u32::from_be((*sin).sin_addr.s_addr)));
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

/// This host's Tailscale address (100.64.0.0/10), if any.
pub fn tailnet_ipv4() -> Option<Ipv4Addr> {
    ipv4_addresses().into_iter().find(|ip| {
        let o = ip.octets();
        o[0] == 100 && (64..128).contains(&o[1])
    })
}
