<#
    Helpers for the Pester suite: throwaway databases on the two test servers that build.ps1 Test
    started (their superuser connection strings arrive in CONFITURE_TEST_SOURCE/TARGET), and plain
    SQL through psql to arrange and assert, independent of the module under test.
#>

Set-StrictMode -Version Latest

function ConvertFrom-ConnectionString([string] $ConnectionString) {
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder.ConnectionString = $ConnectionString
    $value = { param($names) foreach ($n in $names) { if ($builder.ContainsKey($n)) { return [string]$builder[$n] } } }
    [pscustomobject]@{
        Host     = & $value @('Host', 'Server')
        Port     = [int](& $value @('Port'))
        Database = & $value @('Database', 'Db')
        Username = & $value @('Username', 'User Id', 'User', 'UserId')
        Password = & $value @('Password')
    }
}

function Get-TestServer {
    <# The admin (superuser) connection parts of the Source or Target test server. #>
    param([Parameter(Mandatory)][ValidateSet('Source', 'Target')] [string] $Side)
    $cs = if ($Side -eq 'Source') { $env:CONFITURE_TEST_SOURCE } else { $env:CONFITURE_TEST_TARGET }
    if (-not $cs) { throw 'CONFITURE_TEST_SOURCE and CONFITURE_TEST_TARGET are not set: run the suite through build.ps1 Test.' }
    ConvertFrom-ConnectionString $cs
}

function New-ConnectionString {
    param([Parameter(Mandatory)] $Server, [string] $Database, [string] $Username, [string] $Password)
    $builder = [System.Data.Common.DbConnectionStringBuilder]::new()
    $builder['Host'] = $Server.Host
    $builder['Port'] = $Server.Port
    $builder['Database'] = if ($Database) { $Database } else { $Server.Database }
    $builder['Username'] = if ($Username) { $Username } else { $Server.Username }
    $builder['Password'] = if ($PSBoundParameters.ContainsKey('Password')) { $Password } else { $Server.Password }
    $builder.ConnectionString
}

function Invoke-TestSql {
    <#
        Runs SQL with psql on a test server as its superuser (or -Username/-Password) and returns the
        rows as arrays of strings (tab-separated fields). Fails on any SQL error.
    #>
    param(
        [Parameter(Mandatory)][ValidateSet('Source', 'Target')] [string] $Side,
        [Parameter(Mandatory)][string] $Database,
        [Parameter(Mandatory)][string] $Sql,
        [string] $Username,
        [string] $Password
    )
    $server = Get-TestServer $Side
    $saved = $env:PGPASSWORD
    try {
        $env:PGPASSWORD = if ($Username) { $Password } else { $server.Password }
        $user = if ($Username) { $Username } else { $server.Username }
        $output = $Sql | & psql -X -q -At -F "`t" -v ON_ERROR_STOP=1 -h $server.Host -p $server.Port -U $user -d $Database -f - 2>&1
        if ($LASTEXITCODE -ne 0) { throw "psql failed on $Side/${Database}: $($output -join [Environment]::NewLine)" }
        foreach ($line in @($output)) { if ($null -ne $line -and "$line" -ne '') { , ("$line" -split "`t") } }
    }
    finally {
        $env:PGPASSWORD = $saved
    }
}

function New-TestDatabasePair {
    <#
        Creates a database with a random name on each server. With the migration role granted (the
        default), the target database is owned by it and has postgres_fdw that it may use, as a DBA
        would prepare production.
    #>
    param([switch] $NoMigratorGrant)
    $name = 'confiture_pester_' + [Guid]::NewGuid().ToString('N').Substring(0, 12)
    $migrator = $env:CONFITURE_TEST_MIGRATOR_USER
    Invoke-TestSql -Side Source -Database postgres -Sql "CREATE DATABASE $name" | Out-Null
    $owner = if ($NoMigratorGrant) { '' } else { " OWNER $migrator" }
    Invoke-TestSql -Side Target -Database postgres -Sql "CREATE DATABASE $name$owner" | Out-Null
    if (-not $NoMigratorGrant) {
        Invoke-TestSql -Side Target -Database $name -Sql "CREATE EXTENSION postgres_fdw; GRANT USAGE ON FOREIGN DATA WRAPPER postgres_fdw TO $migrator" | Out-Null
    }
    $source = Get-TestServer Source
    $target = Get-TestServer Target
    [pscustomobject]@{
        Database          = $name
        SourceAdmin       = New-ConnectionString -Server $source -Database $name
        TargetAdmin       = New-ConnectionString -Server $target -Database $name
        SourceMigrator    = New-ConnectionString -Server $source -Database $name -Username $migrator -Password $env:CONFITURE_TEST_MIGRATOR_PASSWORD
        TargetMigrator    = New-ConnectionString -Server $target -Database $name -Username $migrator -Password $env:CONFITURE_TEST_MIGRATOR_PASSWORD
        MigratorUser      = $migrator
        MigratorPassword  = $env:CONFITURE_TEST_MIGRATOR_PASSWORD
        SourceHostForTarget = $env:CONFITURE_TEST_SOURCE_HOST_FOR_TARGET
        SourcePortForTarget = $env:CONFITURE_TEST_SOURCE_PORT_FOR_TARGET
    }
}

function Remove-TestDatabasePair {
    param([Parameter(Mandatory)] $Pair)
    foreach ($side in 'Source', 'Target') {
        Invoke-TestSql -Side $side -Database postgres -Sql "DROP DATABASE IF EXISTS $($Pair.Database) WITH (FORCE)" | Out-Null
    }
}

function Get-ModuleManifestPath {
    Join-Path $PSScriptRoot '../../out/Confiture/Confiture.psd1' | Resolve-Path | Select-Object -ExpandProperty Path
}

Export-ModuleMember -Function Get-TestServer, New-ConnectionString, Invoke-TestSql, New-TestDatabasePair, Remove-TestDatabasePair, Get-ModuleManifestPath
