/// The limits of the contract, in one place for the server's validation and the client's help.
public enum NotesLimits {
    public static let usernameLength = 3...32
    public static let usernameCharacters = "abcdefghijklmnopqrstuvwxyz0123456789_.-"
    public static let passwordBytes = 8...72
    public static let titleLength = 1...200
    public static let maxBodyLength = 100_000
    public static let maxTags = 20
    public static let tagLength = 1...32
    public static let tagCharacters = "abcdefghijklmnopqrstuvwxyz0123456789_-"
    public static let pageSize = 1...100
    public static let defaultPageSize = 20
    public static let maxRequestBytes = 1_048_576
}
