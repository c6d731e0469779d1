BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Test-ConfitureMigration -Checksum compares exactly what was migrated' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        New-UsersTables -Pair $pair -Rows 200
        $peer = Get-FdwAddressParameter $pair
        $source = Connect-ConfitureDatabase $pair.SourceMigrator
        $target = Connect-ConfitureDatabase $pair.TargetMigrator
        $migration = Enable-ConfitureFdw -Source $source -Target $target -Table users @peer
        $rename = [ordered]@{ id = 'id'; full_name = 'display_name'; email = 'email' }
        $result = Invoke-ConfitureTableMigration -Migration $migration -Table users -ColumnMapping $rename -Strategy Copy
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "UPDATE users SET display_name = 'Changed' WHERE id = 43" | Out-Null
    }

    AfterAll {
        $migration | Remove-ConfitureFdw -ErrorAction SilentlyContinue
        Remove-TestDatabasePair $pair
    }

    It 'finds a changed renamed column with no mapping given, and lists what it compared' {
        $verification = Test-ConfitureMigration -Migration $migration -Table users -Checksum -Detailed

        $verification.Match | Should -BeFalse
        $verification.ChecksumMatch | Should -BeFalse
        $verification.ComparedColumns | Should -Be @('id', 'full_name -> display_name', 'email')
        $verification.NotCompared | Should -Contain 'created_at (source): excluded: the migration did not move it'
        $verification.Differences.Key | Should -Be @('43')
        $verification.MismatchReason | Should -Match 'checksums differ'
    }

    It 'finds it through the piped result as well' {
        ($result | Test-ConfitureMigration -Checksum).Match | Should -BeFalse
    }

    It 'finds it from another session, with the map recorded on the target' {
        $later = Enable-ConfitureFdw -Source $source -Target $target -Table users @peer

        $verification = Test-ConfitureMigration -Migration $later -Table users -Checksum

        $verification.Match | Should -BeFalse
        $verification.Coverage | Should -Match 'target record'
        $verification.ComparedColumns | Should -Contain 'full_name -> display_name'
    }

    It 'cannot say Match when the mapping given leaves out a column the migration wrote' {
        Invoke-TestSql -Side Target -Database $pair.Database -Sql "UPDATE users SET display_name = (SELECT 'User 43') WHERE id = 43" | Out-Null

        $verification = Test-ConfitureMigration -Migration $migration -Table users -Checksum -ColumnMapping @{ id = 'id'; email = 'email' }

        $verification.ChecksumMatch | Should -BeTrue
        $verification.Match | Should -BeFalse
        $verification.MismatchReason | Should -Match '"display_name" was written from "full_name" but is not compared'
        Test-ConfitureMigration -Migration $migration -Table users -Checksum -Quiet | Should -BeTrue
    }
}
