/// The limits of the contract, in one place for the server's validation and the client's help.
public enum NotesLimits {
    public static let usernameLength = 3...32
    public static let usernameCharacters = "abcdefghijklmnopqrstuvwxyz0123456789_.-"
    public static let passwordBytes = 8...72
    public static let titleLength = 1...200
    /// Bytes of UTF-8 a title may take beside its 200 characters.
    public static let maxTitleBytes = 1_000
    public static let maxBodyLength = 100_000
    /// Bytes of UTF-8 a body may take beside its 100,000 characters (a valid note always fits
    /// in a 1 MiB request, even escaped).
    public static let maxBodyBytes = 262_144
    public static let maxTags = 20
    public static let tagLength = 1...32
    public static let tagCharacters = "abcdefghijklmnopqrstuvwxyz0123456789_-"
    public static let pageSize = 1...100
    public static let defaultPageSize = 20
    /// Title and body bytes one page may carry; a page stops before passing it (it always
    /// holds at least one note) and its `nextCursor` continues from there.
    public static let pageByteBudget = 1_048_576
    public static let maxRequestBytes = 1_048_576
}
