/** FakeBuild stands in for currentBuild (RunWrapper): the fields steps read or set. */
class FakeBuild implements Serializable {
    String result = null
    String currentResult = 'SUCCESS'
    String description = null
    String displayName = '#7'
    int number = 7
    String absoluteUrl = 'http://jenkins.example/job/demo/7/'
    String projectName = 'demo'
}
