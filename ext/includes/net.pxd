# SPDX-License-Identifier: MIT
# The socket and poll calls the UDP loop makes; only the symbols it uses.

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct sockaddr_storage:
        pass
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    struct timespec:
        pass
    int recvmmsg(int fd, mmsghdr* msgvec, unsigned int vlen, int flags, timespec* timeout)
    int sendmmsg(int fd, mmsghdr* msgvec, unsigned int vlen, int flags)
    int MSG_DONTWAIT
    int MSG_WAITFORONE
    int MSG_TRUNC

cdef extern from "<poll.h>" nogil:
    struct pollfd:
        int fd
        short events
        short revents
    ctypedef unsigned long nfds_t
    int poll(pollfd* fds, nfds_t nfds, int timeout)
    short POLLIN

cdef extern from "<sys/socket.h>" nogil:
    ssize_t sendto(int fd, const void* buf, size_t length, int flags, const void* addr,
                   socklen_t addrlen)
    ssize_t recvfrom(int fd, void* buf, size_t length, int flags, void* addr, socklen_t* addrlen)
