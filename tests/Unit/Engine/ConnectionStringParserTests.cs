using Confiture.Core;
using Confiture.Core.Connections;

namespace Confiture.Tests.Unit.Engine;

public sealed class ConnectionStringParserTests
{
    [Fact]
    public void A_uri_gives_every_part_percent_decoded()
    {
        var builder = ConnectionStringParser.Parse("postgresql://app%40corp:p%40ss%3Bw%27rd@db.example.com:6543/sales%20db?sslmode=verify-full&application_name=nightly");

        Assert.Equal("app@corp", builder.Username);
        Assert.Equal("p@ss;w'rd", builder.Password);
        Assert.Equal("db.example.com", builder.Host);
        Assert.Equal(6543, builder.Port);
        Assert.Equal("sales db", builder.Database);
        Assert.Equal(Npgsql.SslMode.VerifyFull, builder.SslMode);
        Assert.Equal("nightly", builder.ApplicationName);
    }

    [Theory]
    [InlineData("Hunter2?Tail99")]
    [InlineData("Hunter2/Tail99")]
    [InlineData("Hunter2#Tail99")]
    [InlineData("Hun@ter2:Tail99")]
    public void A_password_with_unencoded_uri_delimiters_is_read_whole(string password)
    {
        var builder = ConnectionStringParser.Parse($"postgresql://migrator:{password}@127.0.0.1:5432/db?sslmode=disable");

        Assert.Equal(("migrator", password, "127.0.0.1", 5432, "db"), (builder.Username, builder.Password, builder.Host, builder.Port, builder.Database));
    }

    [Fact]
    public void A_server_error_inside_a_Confiture_error_is_plain_data()
    {
        var server = new Npgsql.PostgresException("duplicate key value", "ERROR", "ERROR", "23505");

        var error = new ConfitureException(ConfitureErrorKind.MigrationFailed, "failed", innerException: server);

        var inner = Assert.IsType<PostgresServerException>(error.InnerException);
        Assert.Equal(("23505", "duplicate key value"), (inner.SqlState, inner.MessageText));
    }

    [Fact]
    public void A_uri_accepts_ipv6_hosts_and_the_postgres_scheme()
    {
        var builder = ConnectionStringParser.Parse("postgres://u@[::1]:5433/d");

        Assert.Equal("::1", builder.Host);
        Assert.Equal(5433, builder.Port);
        Assert.Equal("u", builder.Username);
    }

    [Fact]
    public void A_keyword_string_is_read_as_npgsql_reads_it()
    {
        var builder = ConnectionStringParser.Parse("Host=h;Port=5999;Database=d;Username=u;Password='a;b'");

        Assert.Equal(("h", 5999, "d", "u", "a;b"), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
    }

    [Theory]
    [InlineData("")]
    [InlineData("postgresql://u@h:99999/d")]
    [InlineData("postgresql://u@h/d?no_such_option=1")]
    [InlineData("Hots=h;Username=u")]
    public void Malformed_input_is_an_InvalidConnectionString_error(string text)
    {
        var error = Assert.Throws<ConfitureException>(() => ConnectionStringParser.Parse(text));
        Assert.Equal(ConfitureErrorKind.InvalidConnectionString, error.Kind);
    }

    [Fact]
    public void The_error_for_a_bad_keyword_string_never_repeats_the_password()
    {
        var error = Assert.Throws<ConfitureException>(() => ConnectionStringParser.Parse("Hots=h;Password=TopSecret42"));
        Assert.DoesNotContain("TopSecret42", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void An_endpoint_never_shows_its_password()
    {
        var endpoint = DatabaseEndpoint.FromConnectionString("Host=h;Database=d;Username=u;Password=TopSecret42");

        Assert.Equal("u@h:5432/d", endpoint.ToString());
        Assert.True(endpoint.HasPassword);
        Assert.DoesNotContain(typeof(DatabaseEndpoint).GetProperties().Where(p => p.GetMethod?.IsPublic == true),
            p => p.GetValue(endpoint) is string s && s.Contains("TopSecret42", StringComparison.Ordinal));
    }
}
