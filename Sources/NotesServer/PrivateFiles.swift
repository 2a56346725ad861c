import Foundation

/// Modes of the files that hold secrets (keys, the SQLite database), set without ever
/// following a symbolic link: a link planted in their place could otherwise make the server
/// change the mode of a file it points to.
enum PrivateFiles {
    /// Sets `mode` on the file or folder at `path` through a descriptor opened with
    /// `O_NOFOLLOW`; a symbolic link there is refused with a clear error.
    static func restrict(_ path: String, mode: mode_t, what: String) throws(ConfigurationError) {
        let descriptor = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard descriptor >= 0 else {
            let code = errno
            if code == ELOOP {
                throw ConfigurationError(
                    "\(what) \(path) is a symbolic link; SecureNotes does not follow links for its private files: put the real \(what) there"
                )
            }
            throw ConfigurationError("cannot open \(what) \(path): \(String(cString: strerror(code)))")
        }
        defer { close(descriptor) }
        guard fchmod(descriptor, mode) == 0 else {
            throw ConfigurationError("cannot make \(what) \(path) private: \(String(cString: strerror(errno)))")
        }
    }
}
